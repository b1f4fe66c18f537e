"""Service tests of the auth service."""
