"""The whole stack on free ports: PostgreSQL, both services in-process, Envoy in front."""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from article_service import server as article_server
from article_service.config import Settings as ArticleSettings
from auth_service import keys as auth_keys
from auth_service import server as auth_server
from devstack import migrate
from devstack.ports import free_port
from gateway import launch
from gateway.config import GatewaySettings
from tests.conftest import in_process_auth_settings

PASSWORD = "correct horse battery"
ORIGIN = "http://localhost:3000"
LOGIN_MAX_FAILURES = 3
# High enough that the suite never meets the gateway's login rate limit; the test of that
# limit starts a gateway of its own (tests/e2e/test_attacks.py).
E2E_LOGIN_RATE_PER_MINUTE = 60_000


@dataclass(frozen=True)
class Gateway:
    settings: GatewaySettings
    process: subprocess.Popen[bytes]
    access_log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.admin_port}"


@dataclass(frozen=True)
class User:
    id: int
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory) -> Path:
    """The auth service's signing keys (the attack tests forge tokens with them)."""
    directory = Path(tmp_path_factory.mktemp("e2e-keys"))
    auth_keys.ensure_key(directory)
    return directory


@pytest.fixture(scope="session")
async def services(database, keys_dir) -> AsyncIterator[tuple[int, int]]:
    """The auth and article servers, migrated, on port 0; yields their ports."""
    # One after the other: Alembic's `context` is process-global.
    for service in migrate.SERVICES:
        await asyncio.to_thread(migrate.upgrade, service, database.urls[service])
    auth_settings = in_process_auth_settings(
        database.urls["auth"], keys_dir, login_max_failures=LOGIN_MAX_FAILURES
    )
    async with contextlib.AsyncExitStack() as stack:
        auth = await stack.enter_async_context(auth_server.running(auth_settings))
        article_settings = ArticleSettings(
            database_url=database.urls["articles"],
            port=0,
            worker_base_port=0,
            workers=1,
            auth_address=f"127.0.0.1:{auth.port}",
            shutdown_grace_seconds=0.5,
        )
        articles = await stack.enter_async_context(article_server.running(article_settings))
        yield auth.port, articles.port


@contextlib.asynccontextmanager
async def start_gateway(
    services: tuple[int, int], workdir: Path, **overrides: Any
) -> AsyncIterator[Gateway]:
    """An Envoy in front of the test services; `overrides` are GatewaySettings fields."""
    auth_port, articles_port = services
    fields: dict[str, Any] = {
        "port": free_port(),
        "admin_port": free_port(),
        "auth_endpoints": [f"127.0.0.1:{auth_port}"],
        "articles_endpoints": [f"127.0.0.1:{articles_port}"],
        "cors_origins": [ORIGIN],
        "access_log_path": str(workdir / "access.log"),
        "health_check_interval_seconds": 0.5,
        "concurrency": 1,
        "login_rate_per_minute": E2E_LOGIN_RATE_PER_MINUTE,
    }
    settings = GatewaySettings(**{**fields, **overrides})
    with (workdir / "envoy.out").open("wb") as out:
        # In a thread: Envoy's first health checks need this event loop to be free.
        process = await asyncio.to_thread(launch.start, settings, workdir, stdout=out)
    try:
        yield Gateway(settings, process, workdir / "access.log")
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
async def gateway(services, tmp_path_factory) -> AsyncIterator[Gateway]:
    async with start_gateway(services, Path(tmp_path_factory.mktemp("gateway"))) as started:
        yield started


@pytest.fixture(scope="session")
async def document(gateway) -> dict[str, Any]:
    """The OpenAPI document, as the gateway serves it."""
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        reply = await client.get("/openapi.json")
    assert reply.status_code == 200
    return reply.json()  # type: ignore[no-any-return]


def documented_check(document: dict[str, Any]) -> Callable[[httpx.Response], Awaitable[None]]:
    """A response hook: every status an API route answers must be in the OpenAPI document."""
    operations = [
        (re.compile("^" + re.sub(r"{[^}]+}", "[^/]+", path) + "/?$"), verb.upper(), op)
        for path, item in document["paths"].items()
        for verb, op in item.items()
    ]

    async def check(response: httpx.Response) -> None:
        request = response.request
        for pattern, verb, operation in operations:
            if verb == request.method and pattern.match(request.url.path):
                assert str(response.status_code) in operation["responses"], (
                    f"{verb} {request.url.path} answered {response.status_code}, "
                    f"which the OpenAPI document does not list for {operation['operationId']}"
                )

    return check


@pytest.fixture
async def http(gateway, document) -> AsyncIterator[httpx.AsyncClient]:
    hooks = {"response": [documented_check(document)]}
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10, event_hooks=hooks) as client:
        yield client


async def register(http: httpx.AsyncClient, username: str) -> httpx.Response:
    return await http.post(
        "/auth/register",
        json={"email": f"{username}@example.com", "username": username, "password": PASSWORD},
    )


async def login(http: httpx.AsyncClient, username: str) -> str:
    reply = await http.post("/auth/login", data={"username": username, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


async def new_user(http: httpx.AsyncClient, username: str) -> User:
    reply = await register(http, username)
    assert reply.status_code == 201, reply.text
    return User(int(reply.json()["id"]), username, await login(http, username))


@pytest.fixture(scope="session")
async def users(gateway) -> dict[str, User]:
    """Two users registered and logged in through the gateway, once per session."""
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        alice, bob = await asyncio.gather(
            new_user(client, "e2e_alice"), new_user(client, "e2e_bob")
        )
    return {"alice": alice, "bob": bob}


@pytest.fixture
def alice(users) -> User:
    return users["alice"]  # type: ignore[no-any-return]


@pytest.fixture
def bob(users) -> User:
    return users["bob"]  # type: ignore[no-any-return]
