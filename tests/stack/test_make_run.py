"""`make run` as a newcomer uses it: the real launcher, real processes, real ports."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.postgres import free_port_block

ROOT = Path(__file__).resolve().parents[2]
READY = "The blog stack is running"


@pytest.fixture(scope="module")
def stack_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = free_port_block(12)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH_", "ARTICLES_"))}
    env.update(
        BLOG_DATA_DIR=str(tmp_path_factory.mktemp("stack") / "data"),
        BLOG_PG_PORT=str(base),
        AUTH_PORT=str(base + 1),
        AUTH_WORKER_BASE_PORT=str(base + 2),  # two workers: base+2, base+3
        AUTH_WORKERS="2",
        ARTICLES_PORT=str(base + 4),
        ARTICLES_WORKER_BASE_PORT=str(base + 5),  # base+5, base+6
        ARTICLES_WORKERS="2",
        ARTICLES_AUTH_ADDRESS=f"127.0.0.1:{base + 1}",
        GATEWAY_PORT=str(base + 8),
        GATEWAY_ADMIN_PORT=str(base + 9),
    )
    return env


class Launched:
    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devstack", "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.output: list[str] = []

    def wait_for(self, text: str, timeout: float = 120) -> None:
        assert self.process.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if selector.select(timeout=1):
                line = self.process.stdout.readline().decode(errors="replace")
                if not line and self.process.poll() is not None:
                    break
                self.output.append(line)
                if text in line:
                    return
        tail = "".join(self.output[-40:])
        raise AssertionError(f"{text!r} did not appear; output:\n{tail}")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        finally:
            if self.process.poll() is None:
                self.process.kill()


@pytest.fixture
def launch(stack_env: dict[str, str]) -> Iterator[Launched]:
    launched = Launched(stack_env)
    try:
        yield launched
    finally:
        if launched.process.poll() is None:
            launched.stop()


def _gateway(env: dict[str, str]) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{env['GATEWAY_PORT']}", timeout=10)


def test_make_run_serves_the_api_and_keeps_data_across_restarts(stack_env, launch):
    launch.wait_for(READY)
    with _gateway(stack_env) as http:
        reply = http.post(
            "/auth/register",
            json={
                "email": "Newcomer@example.com",
                "username": "newcomer",
                "password": "s3cret-pass",
            },
        )
        assert reply.status_code == 201, reply.text
        login = http.post("/auth/login", data={"username": "newcomer", "password": "s3cret-pass"})
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        created = http.post(
            "/articles/",
            json={"title": "Kept", "content": "Survives a restart.", "published": True},
            headers={"authorization": f"Bearer {token}"},
        )
        assert created.status_code == 201, created.text
    assert launch.stop() == 0
    postmaster = Path(stack_env["BLOG_DATA_DIR"]) / "postgres" / "pgdata" / "postmaster.pid"
    assert not postmaster.exists(), "PostgreSQL was left running"

    again = Launched(stack_env)
    try:
        again.wait_for(READY)
        with _gateway(stack_env) as http:
            article = http.get(f"/articles/{created.json()['id']}")
            assert article.status_code == 200
            assert article.json()["title"] == "Kept"
            # The signing key was kept too: the token from before the restart still works.
            me = http.get("/auth/me", headers={"authorization": f"Bearer {token}"})
            assert me.status_code == 200
            assert me.json()["username"] == "newcomer"
    finally:
        assert again.stop() == 0
