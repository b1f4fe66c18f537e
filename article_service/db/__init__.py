"""Persistence of the article service: tables, repositories and the unit of work."""
