"""The embedded local stack: a real PostgreSQL kept in .data/, roles, keys, and the processes."""
