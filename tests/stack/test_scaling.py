"""Replicas added and drained live under `make run`, and the account feed failing over."""

from __future__ import annotations

import asyncio

from devstack.launched import LaunchedStack
from faults import scaling


def test_replicas_come_and_go_under_load_without_a_failed_request(tmp_path):
    with LaunchedStack(scaling.scaling_env(tmp_path / "data")) as stack:
        outcome = asyncio.run(scaling.run(stack))
    print(outcome.table())  # throughput before and after each step
    assert [phase for phase, _ in outcome.rates] == [
        "2 replicas (before)",
        "3 replicas (after scale-out)",
        "2 replicas (after scale-in)",
    ]
    assert all(rate > 0 for _, rate in outcome.rates)
    assert outcome.join_seconds <= scaling.JOIN_LIMIT_SECONDS
    assert outcome.failed_while_scaling == []
    assert outcome.lost == []
    # The feed: another replica took the lock, never two holders, the deletion applied once.
    assert len(outcome.holders) >= 2
    assert outcome.max_lock_holders == 1
    assert outcome.deleted_articles_left == 0
    assert outcome.deletions_recorded == 1
    drained = [line for line in stack.launcher_lines() if "stopped: exit code 0" in line]
    assert len(drained) == 1  # the drained replica exited cleanly, not killed
