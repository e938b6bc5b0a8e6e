"""The command line: one module per command group; ``main`` mounts them lazily."""
