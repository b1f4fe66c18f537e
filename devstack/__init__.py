"""The one stack launcher: `make run` (stack.py) and the public pieces every harness starts
a stack with (database.py, services.py, probe.py, launched.py), over a real PostgreSQL."""
