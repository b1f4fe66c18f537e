"""The benchmark suite: our stack against a FastAPI peer, with ceilings (`make bench`)."""
