"""Telling "the database cannot be reached" apart from "the query is wrong"."""

from __future__ import annotations

import asyncpg
import pytest

from svckit.database import is_unreachable


def _wrapped(cause: BaseException) -> BaseException:
    try:
        raise RuntimeError("wrapped by the ORM") from cause
    except RuntimeError as exc:
        return exc


@pytest.mark.parametrize(
    "cause",
    [
        asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"),
        asyncpg.exceptions.AdminShutdownError("terminating connection"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.TooManyConnectionsError("too many clients"),
        asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
        ConnectionRefusedError(111, "refused"),
        TimeoutError(),
    ],
)
def test_connection_failures_are_unreachable_even_when_wrapped(cause):
    assert is_unreachable(cause)
    assert is_unreachable(_wrapped(cause))


@pytest.mark.parametrize(
    "cause",
    [
        asyncpg.exceptions.PostgresSyntaxError("syntax error"),
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
        ValueError("bad input"),
    ],
)
def test_a_wrong_query_is_not_unreachable(cause):
    assert not is_unreachable(_wrapped(cause))
