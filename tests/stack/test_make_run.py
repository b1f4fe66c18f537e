"""`make run` as a newcomer uses it: the real launcher, real processes, real ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.launched import LaunchedStack, stack_env


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return stack_env(tmp_path_factory.mktemp("stack") / "data")


@pytest.fixture
def launch(env: dict[str, str]) -> Iterator[LaunchedStack]:
    launched = LaunchedStack(env)
    try:
        yield launched
    finally:
        launched.stop()


def _gateway(stack: LaunchedStack) -> httpx.Client:
    return httpx.Client(base_url=stack.gateway_url, timeout=10)


def test_make_run_serves_the_api_and_keeps_data_across_restarts(env, launch):
    launch.start()
    with _gateway(launch) as http:
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
    postmaster = Path(env["BLOG_DATA_DIR"]) / "postgres" / "pgdata" / "postmaster.pid"
    assert not postmaster.exists(), "PostgreSQL was left running"

    again = LaunchedStack(env)
    try:
        again.start()
        with _gateway(again) as http:
            article = http.get(f"/articles/{created.json()['id']}")
            assert article.status_code == 200
            assert article.json()["title"] == "Kept"
            # The signing key was kept too: the token from before the restart still works.
            me = http.get("/auth/me", headers={"authorization": f"Bearer {token}"})
            assert me.status_code == 200
            assert me.json()["username"] == "newcomer"
    finally:
        assert again.stop() == 0
