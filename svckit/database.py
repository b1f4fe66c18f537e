"""Connection settings both services give asyncpg: fail fast, and no statement runs forever."""

from __future__ import annotations


def asyncpg_connect_args(statement_timeout_seconds: float) -> dict[str, object]:
    """asyncpg connect() arguments: a 5 s connect timeout, a client-side command timeout and
    the same limit as PostgreSQL's statement_timeout, so a frozen database cannot hang a call."""
    return {
        "timeout": 5,
        "command_timeout": statement_timeout_seconds,
        "server_settings": {"statement_timeout": str(int(statement_timeout_seconds * 1000))},
    }
