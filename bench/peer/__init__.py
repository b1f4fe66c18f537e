"""The FastAPI peer: the reference design (reference/000_904936e1e76e6d99.txt), as written."""
