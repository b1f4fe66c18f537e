"""Plumbing both services share: worker processes, call logging, error mapping, health, shutdown.

Nothing here knows a business rule; each service brings its own errors and operations.
"""
