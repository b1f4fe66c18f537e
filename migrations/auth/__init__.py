"""Alembic history of the auth service (a package so mypy tells it apart from others)."""
