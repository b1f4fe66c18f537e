"""The scripts docker-compose.yml runs, against the real stack of this session."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


async def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, output.decode()


async def test_the_health_probe_sees_serving_services_and_a_ready_gateway(services, gateway):
    auth_port, articles_port = services
    probe = "docker/healthcheck.py"
    ok_auth = await run(probe, "grpc", f"127.0.0.1:{auth_port}", "blog.auth.v1.AuthService")
    ok_articles = await run(
        probe, "grpc", f"127.0.0.1:{articles_port}", "blog.articles.v1.ArticleService"
    )
    ready = await run(probe, "http", f"{gateway.admin_url}/ready")
    unknown = await run(probe, "grpc", f"127.0.0.1:{auth_port}", "no.such.Service")
    assert (ok_auth[0], ok_articles[0], ready[0]) == (0, 0, 0)
    assert unknown[0] == 1


async def test_the_one_shot_set_up_step_is_idempotent(database, services, tmp_path):
    env = {
        **os.environ,
        "BLOG_PG_SUPERUSER_URL": database.cluster.superuser_url(),
        "AUTH_DATABASE_URL": database.urls["auth"],
        "ARTICLES_DATABASE_URL": database.urls["articles"],
        "AUTH_KEYS_DIR": str(tmp_path / "keys"),
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'gen'}",  # as the Dockerfile sets it
    }
    code, output = await run("docker/init_stack.py", env=env)
    assert code == 0, output
    assert list((tmp_path / "keys").iterdir())


async def test_the_set_up_step_waits_for_postgres_then_gives_up_clearly(tmp_path):
    with socket.socket() as unused:  # bound, never listening: connections are refused
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        env = {
            **os.environ,
            "BLOG_PG_SUPERUSER_URL": f"postgresql://postgres:x@127.0.0.1:{port}/postgres",
            "BLOG_PG_WAIT_SECONDS": "2",
            "AUTH_DATABASE_URL": f"postgresql+asyncpg://blog_auth:a@127.0.0.1:{port}/blog",
            "ARTICLES_DATABASE_URL": f"postgresql+asyncpg://blog_articles:b@127.0.0.1:{port}/blog",
            "AUTH_KEYS_DIR": str(tmp_path / "keys"),
            "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'gen'}",
        }
        started = time.monotonic()
        code, output = await run("docker/init_stack.py", env=env)
    assert code == 1
    assert "did not accept connections within 2 s" in output
    assert time.monotonic() - started >= 2
    assert not (tmp_path / "keys").exists()
