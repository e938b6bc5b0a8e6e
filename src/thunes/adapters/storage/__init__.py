"""Durable storage: SQL (SQLite by default, PostgreSQL by URL) for orders, fills and the journal."""
