"""Venue adapters: the simulated Binance-compatible server now; ccxt clients next."""
