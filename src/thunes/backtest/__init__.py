"""Backtests on the engine core: the event-driven run, the fast kernel and its plan, parity with a
paper session, and the reports of a measured run."""
