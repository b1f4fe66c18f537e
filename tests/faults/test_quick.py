"""The fault suite's quick run on a representative subset: real PostgreSQL, real service
processes, real Envoy, real faults (kill -9, PostgreSQL crash restart, SIGTERM in flight)
and the races. Nothing acknowledged may be lost, nothing unasked may appear, and no
promise (no INTERNAL, no 5xx but 503/504, no leaked internals) may break."""

from __future__ import annotations

import pytest

from faults.run import run

SUBSET = ["article-kill9", "pg-restart-immediate", "sigterm-inflight", "etag-race", "email-race"]


@pytest.mark.timeout(170)
def test_the_quick_fault_suite_loses_nothing_and_breaks_no_promise() -> None:
    outcome = run(SUBSET, quick=True)
    assert not outcome.problems
    assert [r.name for r in outcome.results] == SUBSET
    for result in outcome.results:
        assert result.acknowledged > 0, result.name
        assert (result.name, result.lost, result.unexpected) == (result.name, 0, 0)
        assert (result.name, result.violations) == (result.name, [])
