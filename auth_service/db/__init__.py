"""Persistence of the auth service: tables in schema "auth", repositories, the unit of work."""
