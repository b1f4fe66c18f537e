"""Register, log in, and who-am-I, through a real server and channel."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import TypeAlias

import grpc
import pytest
from blog.auth.v1 import auth_pb2, auth_pb2_grpc
from google.api import httpbody_pb2

from .conftest import MAX_FAILURES, PASSWORD, violated_fields

Stub: TypeAlias = "auth_pb2_grpc.AuthServiceAsyncStub"  # exists only in the stubs
FORM = "application/x-www-form-urlencoded"


def _form(content_type: str, data: bytes) -> auth_pb2.LoginWithFormRequest:
    return auth_pb2.LoginWithFormRequest(
        form=httpbody_pb2.HttpBody(content_type=content_type, data=data)
    )


async def test_register_returns_the_user(stub: Stub) -> None:
    call = stub.Register(
        auth_pb2.RegisterRequest(email="Bob@Example.com", username="bob", password=PASSWORD)
    )
    user = await call
    assert (user.email, user.username) == ("Bob@Example.com", "bob")
    assert user.id > 0
    assert user.created_at.seconds > 0
    # HTTP codes are the gateway's business (201 from its route table), not the service's.
    assert not tuple(await call.initial_metadata())


async def test_register_rejects_invalid_fields_with_field_violations(stub: Stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Register(auth_pb2.RegisterRequest(email="nope", username="x!", password="short"))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(caught.value) == ["email", "username", "password"]


@pytest.mark.parametrize(
    ("email", "username", "message"),
    [
        ("ALICE@example.com", "someone", "Email already registered"),
        ("new@example.com", "alice", "Username already taken"),
    ],
)
async def test_register_rejects_taken_email_or_username(
    stub: Stub, alice: auth_pb2.User, email: str, username: str, message: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Register(
            auth_pb2.RegisterRequest(email=email, username=username, password=PASSWORD)
        )
    assert caught.value.code() is grpc.StatusCode.ALREADY_EXISTS
    assert caught.value.details() == message


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        (FORM, f"username=alice&password={PASSWORD.replace(' ', '+')}".encode()),
        (
            "application/json",
            json.dumps({"username": "alice@example.com", "password": PASSWORD}).encode(),
        ),
    ],
)
async def test_login_with_form_accepts_oauth2_form_and_json(
    stub: Stub, alice: auth_pb2.User, content_type: str, data: bytes
) -> None:
    token = await stub.LoginWithForm(_form(content_type, data))
    assert token.token_type == "bearer"
    assert token.expires_in == 30 * 60
    me = await stub.GetCurrentUser(
        auth_pb2.GetCurrentUserRequest(),
        metadata=[("authorization", f"Bearer {token.access_token}")],
    )
    assert me == alice


async def test_login_with_form_names_the_missing_field(stub: Stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.LoginWithForm(_form(FORM, b"username=alice"))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(caught.value) == ["password"]


async def test_login_answers_wrong_password_and_unknown_user_alike(
    stub: Stub, alice: auth_pb2.User
) -> None:
    answers = []
    for name, password in (("alice", "wrong password"), ("nobody-at-all", PASSWORD)):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Login(auth_pb2.LoginRequest(username=name, password=password))
        answers.append((caught.value.code(), caught.value.details()))
    assert (
        answers[0]
        == answers[1]
        == (
            grpc.StatusCode.UNAUTHENTICATED,
            "Incorrect username or password",
        )
    )


async def test_login_is_throttled_per_account_name(stub: Stub, alice: auth_pb2.User) -> None:
    victim = auth_pb2.LoginRequest(username="throttled-name", password="wrong password")
    for _ in range(MAX_FAILURES):
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.Login(victim)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Login(victim)
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert caught.value.details() == "Too many failed login attempts; try again later"
    assert await stub.Login(auth_pb2.LoginRequest(username="alice", password=PASSWORD))


async def test_get_current_user_returns_the_token_owner(
    stub: Stub, alice: auth_pb2.User, alice_token: str
) -> None:
    me = await stub.GetCurrentUser(
        auth_pb2.GetCurrentUserRequest(), metadata=[("authorization", f"Bearer {alice_token}")]
    )
    assert me == alice


@pytest.mark.parametrize(
    "metadata",
    [
        [],
        [("authorization", "Bearer not-a-token")],
        [("authorization", "Basic YWxpY2U6eA==")],
        [("authorization", "Bearer ")],
    ],
)
async def test_get_current_user_rejects_missing_or_bad_tokens(
    stub: Stub, metadata: list[tuple[str, str]]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetCurrentUser(auth_pb2.GetCurrentUserRequest(), metadata=metadata)
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert caught.value.details() == "Could not validate credentials"


async def test_a_valid_token_among_two_authorization_entries_is_refused(
    stub: Stub, alice_token: str
) -> None:
    # svckit.bearer, as at the article service: which of two credentials is meant is not guessed.
    twice = [("authorization", f"Bearer {alice_token}"), ("authorization", "Bearer other")]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetCurrentUser(auth_pb2.GetCurrentUserRequest(), metadata=twice)
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert caught.value.details() == "Could not validate credentials"


async def test_parallel_registrations_with_one_request_id_create_one_account(stub: Stub) -> None:
    key = str(uuid.uuid4())
    request = auth_pb2.RegisterRequest(
        email="Retry@Example.com", username="retrier", password=PASSWORD, request_id=key
    )
    users = await asyncio.gather(*(stub.Register(request) for _ in range(6)))
    assert {user.id for user in users} == {users[0].id}
    again = await stub.Register(request)
    assert again == users[0]
    # The same key for another account is a client bug: refused, and nothing is created.
    other = auth_pb2.RegisterRequest(
        email="else@example.com", username="someone-else", password=PASSWORD, request_id=key
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Register(other)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(caught.value) == ["request_id"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Login(auth_pb2.LoginRequest(username="someone-else", password=PASSWORD))
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
