"""ChangePassword through a real server and channel, every error row included."""

from __future__ import annotations

from typing import TypeAlias

import grpc
import pytest
from blog.auth.v1 import auth_pb2, auth_pb2_grpc

from .conftest import MAX_FAILURES, PASSWORD, violated_fields

Stub: TypeAlias = "auth_pb2_grpc.AuthServiceAsyncStub"  # exists only in the stubs
NEW = "another good password"


async def _login(stub: Stub, name: str) -> auth_pb2.AccessToken:
    await stub.Register(
        auth_pb2.RegisterRequest(email=f"{name}@example.com", username=name, password=PASSWORD)
    )
    return await stub.Login(auth_pb2.LoginRequest(username=name, password=PASSWORD))


def _bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def _change(current: str, new: str = NEW) -> auth_pb2.ChangePasswordRequest:
    return auth_pb2.ChangePasswordRequest(current_password=current, new_password=new)


async def _code(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value.code()


async def test_a_change_refuses_earlier_tokens_and_answers_a_working_pair(stub: Stub) -> None:
    login = await _login(stub, "pw_a")
    changed = await stub.ChangePassword(_change(PASSWORD), metadata=_bearer(login.access_token))
    assert changed.tokens_valid_after.seconds > 0
    me = auth_pb2.GetCurrentUserRequest()
    unauthenticated = grpc.StatusCode.UNAUTHENTICATED
    assert await _code(stub.GetCurrentUser(me, metadata=_bearer(login.access_token))) is (
        unauthenticated
    )
    refresh = auth_pb2.RefreshTokenRequest(refresh_token=login.refresh_token)
    assert await _code(stub.RefreshToken(refresh)) is unauthenticated
    user = await stub.GetCurrentUser(me, metadata=_bearer(changed.token.access_token))
    assert user.username == "pw_a"
    renewed = await stub.RefreshToken(
        auth_pb2.RefreshTokenRequest(refresh_token=changed.token.refresh_token)
    )
    assert await stub.GetCurrentUser(me, metadata=_bearer(renewed.access_token))
    assert await stub.Login(auth_pb2.LoginRequest(username="pw_a", password=NEW))
    old = auth_pb2.LoginRequest(username="pw_a", password=PASSWORD)
    assert await _code(stub.Login(old)) is unauthenticated


async def test_a_wrong_current_password_is_refused_and_counts_for_the_throttle(
    stub: Stub,
) -> None:
    login = await _login(stub, "pw_b")
    bearer = _bearer(login.access_token)
    for _ in range(MAX_FAILURES):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ChangePassword(_change("wrong password"), metadata=bearer)
        assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert caught.value.details() == "Current password is incorrect"
    exhausted = grpc.StatusCode.RESOURCE_EXHAUSTED
    assert await _code(stub.ChangePassword(_change(PASSWORD), metadata=bearer)) is exhausted
    login_again = auth_pb2.LoginRequest(username="pw_b", password=PASSWORD)
    assert await _code(stub.Login(login_again)) is exhausted


async def test_invalid_input_names_the_fields(stub: Stub) -> None:
    login = await _login(stub, "pw_c")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ChangePassword(_change("", "short"), metadata=_bearer(login.access_token))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(caught.value) == ["current_password", "new_password"]


async def test_without_a_valid_token_it_is_unauthenticated(stub: Stub) -> None:
    for metadata in ((), _bearer("nope")):
        call = stub.ChangePassword(_change(PASSWORD), metadata=metadata)
        assert await _code(call) is grpc.StatusCode.UNAUTHENTICATED


async def test_the_feed_carries_the_new_token_epoch(stub: Stub) -> None:
    login = await _login(stub, "pw_d")
    await stub.ChangePassword(_change(PASSWORD), metadata=_bearer(login.access_token))
    me_id = None
    feed = stub.WatchUserEvents(auth_pb2.WatchUserEventsRequest(after_seq=0), timeout=10)
    async for event in feed:
        if event.username == "pw_d" and event.kind == auth_pb2.USER_EVENT_KIND_CREATED:
            me_id = event.user_id
        if event.user_id == me_id and event.kind == auth_pb2.USER_EVENT_KIND_TOKENS_REVOKED:
            assert event.token_epoch == 1
            break
