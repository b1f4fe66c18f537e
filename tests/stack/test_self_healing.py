"""Under `make run`, processes that die come back and nothing acknowledged is lost."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

from devstack.launched import ROOT, LaunchedStack, stack_env
from faults import healing
from svckit.workers import CRASH_LOOP_EXIT


def test_killed_workers_and_services_are_restarted_and_no_acknowledged_write_is_lost(tmp_path):
    stack = LaunchedStack(stack_env(tmp_path / "data"))
    with stack:
        outcome = asyncio.run(healing.run(stack, quick=True))
        print(outcome.table())
        assert stack.process is not None
        assert stack.process.poll() is None, "the stack stopped"
    assert [s.fault for s in outcome.steps] == [
        "articles: kill -9 one worker",
        "auth: kill -9 one worker",
        "articles: kill -9 the service",
        "auth: kill -9 the service",
        "PostgreSQL: kill -9",
    ]
    for step in outcome.steps:
        assert step.heal_seconds <= healing.HEAL_LIMIT_SECONDS, step
        assert step.restart_logged, step
    assert outcome.acknowledged > 20
    assert outcome.lost == []
    assert outcome.unexpected == []
    restarts = [line for line in stack.launcher_lines() if "exited: killed by SIGKILL" in line]
    assert len(restarts) == 2  # each service process once; workers are their service's job


def test_a_worker_that_dies_at_start_ends_its_service_after_the_crash_loop_limit(tmp_path):
    env = stack_env(tmp_path / "data")
    base = int(env["ARTICLES_WORKER_BASE_PORT"])
    env.update(
        ARTICLES_DATABASE_URL="postgresql+asyncpg://nobody:x@127.0.0.1:1/blog",
        ARTICLES_WORKER_RESTART_LIMIT="3",
        ARTICLES_FEED_CONSUMER="false",
    )
    with socket.socket() as taken:  # worker 1's own port is taken: it cannot bind, ever
        taken.bind(("127.0.0.1", base + 1))
        taken.listen()
        result = subprocess.run(
            [sys.executable, "-m", "article_service"],
            cwd=ROOT,
            env={**env, "PYTHONPATH": str(Path(ROOT))},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == CRASH_LOOP_EXIT, result.stderr[-2000:]
    assert "worker 1 exited 3 times within 60 s (last: exit code 1); stopping the service" in (
        result.stderr
    )
