"""The real article server on port 0, with a real auth server issuing real tokens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import grpc
import pytest
from blog.articles.v1 import articles_pb2_grpc
from blog.auth.v1 import auth_pb2, auth_pb2_grpc

from article_service import server as article_server
from article_service.config import Settings
from auth_service import keys as auth_keys
from auth_service import server as auth_server
from devstack import migrate
from tests.conftest import in_process_auth_settings

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class AuthStack:
    port: int
    keys_dir: Path
    kid: str

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass(frozen=True)
class User:
    id: int
    token: str

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),)


def article_settings(database_url: str, auth_address: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "port": 0,
        "worker_base_port": 0,
        "workers": 1,
        "auth_address": auth_address,
        "shutdown_grace_seconds": 0.5,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
async def auth(database, tmp_path_factory) -> AsyncIterator[AuthStack]:
    await asyncio.to_thread(migrate.upgrade, "auth", database.urls["auth"])
    keys_dir = Path(tmp_path_factory.mktemp("auth-keys"))
    kid = auth_keys.ensure_key(keys_dir)
    settings = in_process_auth_settings(database.urls["auth"], keys_dir)
    async with auth_server.running(settings) as started:
        yield AuthStack(started.port, keys_dir, kid)


@pytest.fixture(scope="session")
async def articles_server(database, auth) -> AsyncIterator[article_server.Running]:
    await asyncio.to_thread(migrate.upgrade, "articles", database.urls["articles"])
    settings = article_settings(database.urls["articles"], auth.address)
    async with article_server.running(settings) as started:
        yield started


@pytest.fixture(scope="session")
async def channel(articles_server) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{articles_server.port}") as channel:
        yield channel


@pytest.fixture(scope="session")
def stub(channel) -> articles_pb2_grpc.ArticleServiceAsyncStub:
    return cast(
        "articles_pb2_grpc.ArticleServiceAsyncStub", articles_pb2_grpc.ArticleServiceStub(channel)
    )


async def _user(stub: Any, name: str) -> User:
    registered = await stub.Register(
        auth_pb2.RegisterRequest(email=f"{name}@example.com", username=name, password=PASSWORD)
    )
    login = await stub.Login(auth_pb2.LoginRequest(username=name, password=PASSWORD))
    return User(int(registered.id), str(login.access_token))


@pytest.fixture(scope="session")
async def users(auth, articles_server) -> dict[str, User]:
    """Two real users, registered and logged in once for the whole session; the article
    service has applied their registration (so author_username is stable) before tests run."""
    async with grpc.aio.insecure_channel(auth.address) as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        alice, bob = await asyncio.gather(
            _user(stub, "articles_alice"),
            _user(stub, "articles_bob"),
        )
        feed: Any = stub.WatchUserEvents(auth_pb2.WatchUserEventsRequest())
        head = (await feed.read()).head_seq
        feed.cancel()
    for _ in range(500):
        if articles_server.consumer.lag().cursor >= head:
            break
        await asyncio.sleep(0.02)
    return {"alice": alice, "bob": bob}


@pytest.fixture(scope="session")
def alice(users: dict[str, User]) -> User:
    return users["alice"]


@pytest.fixture(scope="session")
def bob(users: dict[str, User]) -> User:
    return users["bob"]
