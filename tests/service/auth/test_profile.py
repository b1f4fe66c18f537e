"""UpdateCurrentUser through a real server and channel, every error row included."""

from __future__ import annotations

from typing import TypeAlias

import grpc
import pytest
from blog.auth.v1 import auth_pb2, auth_pb2_grpc

from .conftest import PASSWORD, violated_fields

Stub: TypeAlias = "auth_pb2_grpc.AuthServiceAsyncStub"  # exists only in the stubs


async def _bearer(stub: Stub, name: str) -> tuple[tuple[str, str], ...]:
    await stub.Register(
        auth_pb2.RegisterRequest(email=f"{name}@example.com", username=name, password=PASSWORD)
    )
    login = await stub.Login(auth_pb2.LoginRequest(username=name, password=PASSWORD))
    return (("authorization", f"Bearer {login.access_token}"),)


async def _refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def test_update_changes_only_the_fields_sent(stub: Stub) -> None:
    bearer = await _bearer(stub, "prof_a")
    renamed = await stub.UpdateCurrentUser(
        auth_pb2.UpdateCurrentUserRequest(username="prof_a2"), metadata=bearer
    )
    assert (renamed.username, renamed.email) == ("prof_a2", "prof_a@example.com")
    moved = await stub.UpdateCurrentUser(
        auth_pb2.UpdateCurrentUserRequest(email="new_a@example.com"), metadata=bearer
    )
    assert (moved.username, moved.email) == ("prof_a2", "new_a@example.com")
    assert moved.updated_at.ToDatetime() >= moved.created_at.ToDatetime()
    login = await stub.Login(auth_pb2.LoginRequest(username="prof_a2", password=PASSWORD))
    assert login.access_token


@pytest.fixture(scope="module")
async def taken(stub: Stub) -> None:
    """An account whose username and email the other tests try to take."""
    await _bearer(stub, "prof_taken")


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (auth_pb2.UpdateCurrentUserRequest(username="PROF_TAKEN"), "Username already taken"),
        (
            auth_pb2.UpdateCurrentUserRequest(email="Prof_Taken@example.com"),
            "Email already registered",
        ),
    ],
)
async def test_update_refuses_a_taken_username_or_email(
    stub: Stub, taken: None, request_: auth_pb2.UpdateCurrentUserRequest, message: str
) -> None:
    bearer = await _bearer(stub, f"prof_b{len(message)}")
    error = await _refused(stub.UpdateCurrentUser(request_, metadata=bearer))
    assert error.code() is grpc.StatusCode.ALREADY_EXISTS
    assert error.details() == message


async def test_update_names_each_invalid_field(stub: Stub) -> None:
    bearer = await _bearer(stub, "prof_c")
    request = auth_pb2.UpdateCurrentUserRequest(username="x!", email="nope")
    error = await _refused(stub.UpdateCurrentUser(request, metadata=bearer))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error) == ["username", "email"]


async def test_update_without_a_valid_token_is_unauthenticated(stub: Stub) -> None:
    request = auth_pb2.UpdateCurrentUserRequest(username="prof_d")
    for metadata in ((), (("authorization", "Bearer nope"),)):
        error = await _refused(stub.UpdateCurrentUser(request, metadata=metadata))
        assert error.code() is grpc.StatusCode.UNAUTHENTICATED
