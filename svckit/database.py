"""Both services' database plumbing: asyncpg settings that fail fast (no statement runs
forever), and telling "the database cannot be reached" apart from a wrong query, with the
one message a client is then given."""

from __future__ import annotations

import asyncpg
from sqlalchemy import exc as sa_exc

UNAVAILABLE_MESSAGE = "The database is unavailable, try again later"

# Errors that mean "the database cannot be reached", not "the query is wrong", as raised
# through SQLAlchemy (a session or an engine connection)...
UNREACHABLE = (
    OSError,
    TimeoutError,
    sa_exc.TimeoutError,  # no pooled connection came free in time
    sa_exc.InterfaceError,
    sa_exc.OperationalError,
)
# ...and as raised by asyncpg itself, for the paths that call the driver directly.
DRIVER_UNREACHABLE = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
)


def asyncpg_connect_args(statement_timeout_seconds: float) -> dict[str, object]:
    """asyncpg connect() arguments: a 5 s connect timeout, a client-side command timeout and
    the same limit as PostgreSQL's statement_timeout, so a frozen database cannot hang a call."""
    return {
        "timeout": 5,
        "command_timeout": statement_timeout_seconds,
        "server_settings": {"statement_timeout": str(int(statement_timeout_seconds * 1000))},
    }


# SQLSTATEs that mean "the server cannot serve this now", not "the query is wrong": class 08
# (connection exceptions), 53 (insufficient resources, e.g. too many connections), 57014
# (statement timeout) and 57P01-57P03 (shutting down, crashed, starting up).
_UNREACHABLE_SQLSTATES = ("08", "53", "57014", "57P01", "57P02", "57P03")


def is_unreachable(exc: BaseException) -> bool:
    """True if `exc`, or anything in its cause chain, says the database could not be reached
    (a refused or broken connection, a timeout, PostgreSQL shutting down or starting up)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError | TimeoutError):
            return True
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_UNREACHABLE_SQLSTATES):
            return True
        if getattr(current, "connection_invalidated", False) is True:
            return True
        current = current.__cause__ or current.__context__
    return False


def session_lost(exc: BaseException | None) -> bool:
    """True if a SQLAlchemy session's error means its connection is gone, not a wrong query."""
    return isinstance(exc, UNREACHABLE) or (
        isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated
    )
