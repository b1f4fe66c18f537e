"""devstack's public pieces without starting a stack: the port layout every harness gets,
a service's settings, and reading what a launched stack printed from its log."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack import services
from devstack.launched import LaunchedStack, stack_env

PORT_KEYS = (
    "BLOG_PG_PORT",
    "AUTH_PORT",
    "ARTICLES_PORT",
    "GATEWAY_PORT",
    "GATEWAY_ADMIN_PORT",
    "GATEWAY_STATS_PORT",
    "AUTH_METRICS_PORT",
    "ARTICLES_METRICS_PORT",
)


def _ports(env: dict[str, str], workers: int) -> list[int]:
    named = [int(env[key]) for key in PORT_KEYS]
    for prefix in ("AUTH", "ARTICLES"):
        base = int(env[f"{prefix}_WORKER_BASE_PORT"])
        named += [base + i for i in range(workers)]
    return named


@pytest.mark.parametrize("workers", [1, 2, 3, 5])
def test_a_stack_env_gives_every_process_its_own_port_in_one_block(tmp_path, workers):
    env = stack_env(tmp_path / "data", workers=workers)
    ports = _ports(env, workers)
    assert len(set(ports)) == len(ports)  # no two processes on one port, whatever the count
    assert max(ports) - min(ports) == len(ports) - 1
    assert env["AUTH_WORKERS"] == env["ARTICLES_WORKERS"] == str(workers)


def test_a_stack_env_drops_the_callers_settings_and_takes_extras(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTICLES_FEED_CONSUMER", "false")
    monkeypatch.setenv("GATEWAY_CONCURRENCY", "8")
    env = stack_env(tmp_path / "data", GATEWAY_LOGIN_RATE_PER_MINUTE="100")
    assert "ARTICLES_FEED_CONSUMER" not in env
    assert "GATEWAY_CONCURRENCY" not in env
    assert env["GATEWAY_LOGIN_RATE_PER_MINUTE"] == "100"
    assert env["BLOG_DATA_DIR"] == str(tmp_path / "data")


def test_service_settings_put_the_workers_right_after_the_shared_port():
    env = services.settings(
        services.ARTICLES, port=41000, workers=3, database_url="postgresql://x", auth_address="a"
    )
    assert env["ARTICLES_PORT"] == "41000"
    assert env["ARTICLES_AUTH_ADDRESS"] == "a"
    assert services.worker_targets(services.ARTICLES, env) == [
        "127.0.0.1:41001",
        "127.0.0.1:41002",
        "127.0.0.1:41003",
    ]


def test_a_launched_stack_reads_complete_lines_from_its_log_when_asked(tmp_path: Path):
    log = tmp_path / "stack.log"
    stack = LaunchedStack(stack_env(tmp_path / "data"), log=log)
    assert stack.lines == []  # nothing written yet
    with log.open("a") as out:
        out.write("[stack] one\nhalf a li")
    assert stack.lines == ["[stack] one\n"]
    with log.open("a") as out:
        out.write("ne\n")
    assert stack.lines == ["[stack] one\n", "half a line\n"]
    assert stack.launcher_lines() == ["[stack] one\n"]
    assert stack.wait_for("half", timeout=1) == 1
    with pytest.raises(AssertionError, match="never"):
        stack.wait_for("never", timeout=0.3)
