"""The running session: paper, testnet and live trading on the engine core, its jobs on the market
clock, recovery at start and telemetry."""
