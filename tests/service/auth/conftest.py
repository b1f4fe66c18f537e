"""A real auth server on port 0 over a real channel, on the session's PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from blog.auth.v1 import auth_pb2, auth_pb2_grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from auth_service import keys
from auth_service.config import Settings
from auth_service.server import Running, running
from devstack import migrate
from tests.conftest import Database, in_process_auth_settings

PASSWORD = "correct horse battery"
MAX_FAILURES = 3


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys")
    keys.ensure_key(directory)
    return directory


def make_settings(url: str, keys_dir: Path) -> Settings:
    return in_process_auth_settings(url, keys_dir, login_max_failures=MAX_FAILURES)


@pytest.fixture(scope="session")
def settings(database: Database, keys_dir: Path) -> Settings:
    migrate.upgrade("auth", database.urls["auth"])
    return make_settings(database.urls["auth"], keys_dir)


@pytest.fixture(scope="session")
async def server(settings: Settings) -> AsyncIterator[Running]:
    async with running(settings) as started:
        yield started


@pytest.fixture(scope="session")
async def channel(server: Running) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield channel


@pytest.fixture(scope="session")
def stub(channel: grpc.aio.Channel) -> auth_pb2_grpc.AuthServiceAsyncStub:
    return auth_pb2_grpc.AuthServiceStub(channel)


@pytest.fixture(scope="session")
async def alice(stub: auth_pb2_grpc.AuthServiceAsyncStub) -> auth_pb2.User:
    """One user registered once for the whole session: bcrypt is slow on purpose."""
    request = auth_pb2.RegisterRequest(
        email="alice@example.com", username="Alice", password=PASSWORD
    )
    return await stub.Register(request)


@pytest.fixture(scope="session")
async def alice_token(stub: auth_pb2_grpc.AuthServiceAsyncStub, alice: auth_pb2.User) -> str:
    reply = await stub.Login(auth_pb2.LoginRequest(username="alice", password=PASSWORD))
    return reply.access_token


def violated_fields(error: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]  # an aio error is a Call
    assert status is not None
    fields: list[str] = []
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            fields.extend(v.field for v in bad_request.field_violations)
    return fields
