"""Everything that touches the outside world: files, venues, storage, buses, metrics."""
