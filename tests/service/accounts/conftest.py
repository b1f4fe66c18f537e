"""A real auth server, article servers started and stopped by each test, and their databases."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from blog.auth.v1 import auth_pb2, auth_pb2_grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from article_service.config import Settings
from article_service.user_feed import UserFeedConsumer
from auth_service import keys as auth_keys
from auth_service import server as auth_server
from devstack import migrate
from tests.conftest import Database, in_process_auth_settings, start_database

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Account:
    id: int
    token: str

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),)


def article_settings(database_url: str, auth_address: str) -> Settings:
    return Settings(
        database_url=database_url,  # type: ignore[arg-type]
        port=0,
        worker_base_port=0,
        workers=1,
        auth_address=auth_address,
        shutdown_grace_seconds=0.5,
        feed_lock_retry_seconds=0.2,
        feed_backoff_max_seconds=0.5,
        feed_lag_log_seconds=0.2,
        deleted_users_refresh_seconds=0.2,
    )


@pytest.fixture(scope="session")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A cluster of these tests' own: one feed consumer per database holds the advisory
    lock, and article servers of other suites (e2e) keep theirs on the shared database."""
    yield from start_database(tmp_path_factory)


@pytest.fixture(scope="session")
async def auth_address(database, tmp_path_factory) -> AsyncIterator[str]:
    await asyncio.to_thread(migrate.upgrade, "auth", database.urls["auth"])
    await asyncio.to_thread(migrate.upgrade, "articles", database.urls["articles"])
    keys_dir = Path(tmp_path_factory.mktemp("accounts-keys"))
    auth_keys.ensure_key(keys_dir)
    settings = in_process_auth_settings(database.urls["auth"], keys_dir, events_poll_seconds=0.05)
    async with auth_server.running(settings) as started:
        yield f"127.0.0.1:{started.port}"


@pytest.fixture(scope="session")
async def auth_stub(auth_address) -> AsyncIterator[Any]:
    async with grpc.aio.insecure_channel(auth_address) as channel:
        yield auth_pb2_grpc.AuthServiceStub(channel)


@pytest.fixture(scope="session")
def settings(database, auth_address) -> Settings:
    return article_settings(database.urls["articles"], auth_address)


@pytest.fixture(scope="session")
async def articles_db(database) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database.urls["articles"])
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def auth_db(database) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database.urls["auth"])
    yield engine
    await engine.dispose()


async def register(stub: Any, name: str) -> Account:
    await stub.Register(
        auth_pb2.RegisterRequest(email=f"{name}@example.com", username=name, password=PASSWORD)
    )
    reply = await stub.Login(auth_pb2.LoginRequest(username=name, password=PASSWORD))
    user = await stub.GetCurrentUser(
        auth_pb2.GetCurrentUserRequest(),
        metadata=(("authorization", f"Bearer {reply.access_token}"),),
    )
    return Account(user.id, reply.access_token)


async def feed_head(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(text("SELECT coalesce(max(seq), 0) FROM user_events")))


async def scalar(engine: AsyncEngine, sql: str, **params: Any) -> Any:
    async with engine.connect() as connection:
        return await connection.scalar(text(sql), params)


async def execute(engine: AsyncEngine, sql: str, **params: Any) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(sql), params)


async def eventually(
    check: Callable[[], Awaitable[bool]], within: float = 5.0, step: float = 0.02
) -> float:
    """Seconds until `check()` held; fails the test after `within`."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < within, "condition not met in time"
        await asyncio.sleep(step)
    return time.monotonic() - started


async def caught_up(consumer: UserFeedConsumer, auth_db: AsyncEngine, within: float = 10.0) -> None:
    head = await feed_head(auth_db)

    async def check() -> bool:
        return consumer.lag().cursor >= head

    await eventually(check, within)
