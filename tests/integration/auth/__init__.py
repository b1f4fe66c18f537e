"""Integration tests of the auth service."""
