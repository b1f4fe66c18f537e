"""The set checker the fault suite judges by: what counts as lost, unexpected, recovered."""

from __future__ import annotations

from collections import Counter

import grpc
import pytest

from faults.history import Attempt, History, Outcome, Write, check_set, http_attempt


def _write(key: str, *outcomes: Outcome) -> Write:
    return Write(key, [Attempt("create", "grpc", 0.0, 1.0, o.name, o) for o in outcomes])


def test_acknowledged_writes_missing_are_lost_and_rows_nobody_asked_for_are_unexpected():
    writes = [
        _write("kept", Outcome.OK),
        _write("lost", Outcome.OK),
        _write("retried", Outcome.INDETERMINATE, Outcome.OK),
        _write("landed", Outcome.INDETERMINATE),
        _write("vanished", Outcome.INDETERMINATE),
        _write("refused", Outcome.FAILED),
        _write("refused-yet-there", Outcome.FAILED),
        _write("twice", Outcome.OK),
    ]
    found = Counter(
        {"kept": 1, "retried": 1, "landed": 1, "refused-yet-there": 1, "twice": 2, "stray": 1}
    )
    check = check_set(writes, found)
    assert check.acknowledged == 4
    assert check.lost == ["lost"]
    assert sorted(check.unexpected) == [
        "refused-yet-there (refused, yet present)",
        "stray",
        "twice x2",
    ]
    assert check.recovered == 1
    assert check.indeterminate_absent == 1


@pytest.mark.parametrize(
    ("code", "violates"),
    [
        (grpc.StatusCode.UNAVAILABLE, False),
        (grpc.StatusCode.DEADLINE_EXCEEDED, False),
        (grpc.StatusCode.INTERNAL, True),
        (grpc.StatusCode.UNKNOWN, True),
    ],
)
def test_internal_and_unknown_are_broken_promises(code, violates):
    history = History()
    history.add(Attempt("create", "grpc", 0.0, 1.0, code.name, Outcome.INDETERMINATE))
    assert bool(history.violations) is violates


@pytest.mark.parametrize(
    ("status", "violates"), [(503, False), (504, False), (500, True), (502, True)]
)
def test_only_503_and_504_may_come_through_the_gateway_during_an_outage(status, violates):
    history = History()
    history.add(http_attempt("create", 0.0, status, '{"code":14,"message":"try again"}'))
    assert bool(history.violations) is violates


@pytest.mark.parametrize(
    "message",
    [
        'Traceback (most recent call last):\n  File "/x.py", line 3, in f',
        'duplicate key value violates unique constraint "uq_users_email_lower"',
        "(sqlalchemy.dialects.postgresql.asyncpg.Error) the database system is shutting down",
        "[SQL: SELECT id FROM articles WHERE id = $1]",
    ],
)
def test_a_stack_trace_or_sql_in_an_answer_is_a_broken_promise(message):
    history = History()
    history.add(Attempt("create", "grpc", 0.0, 1.0, "UNAVAILABLE", Outcome.INDETERMINATE, message))
    assert history.violations
