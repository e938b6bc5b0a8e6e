"""A Binance-spot-compatible HTTP/WebSocket server over the simulated venue (aiohttp, loopback)."""
