"""The operator surface: what a session shows (status), the control API and Telegram commands, and
the client the CLI uses to reach a running session."""
