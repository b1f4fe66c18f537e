"""Refresh tokens and logout through a real server and channel, every error row included."""

from __future__ import annotations

import asyncio
from typing import TypeAlias

import grpc
import pytest
from blog.auth.v1 import auth_pb2, auth_pb2_grpc
from google.api import httpbody_pb2

from .conftest import PASSWORD

Stub: TypeAlias = "auth_pb2_grpc.AuthServiceAsyncStub"  # exists only in the stubs


async def _session(stub: Stub, name: str) -> auth_pb2.AccessToken:
    await stub.Register(
        auth_pb2.RegisterRequest(email=f"{name}@example.com", username=name, password=PASSWORD)
    )
    return await stub.Login(auth_pb2.LoginRequest(username=name, password=PASSWORD))


async def _refresh(stub: Stub, token: str) -> auth_pb2.AccessToken:
    return await stub.RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=token))


async def _refused(stub: Stub, token: str) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _refresh(stub, token)
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    return caught.value.details() or ""


async def test_login_returns_a_refresh_token_that_rotates(stub: Stub) -> None:
    login = await _session(stub, "svc_rot")
    assert login.refresh_token
    assert login.refresh_expires_in == 30 * 24 * 3600
    renewed = await _refresh(stub, login.refresh_token)
    assert renewed.token_type == "bearer"
    assert renewed.refresh_token != login.refresh_token
    me = await stub.GetCurrentUser(
        auth_pb2.GetCurrentUserRequest(),
        metadata=(("authorization", f"Bearer {renewed.access_token}"),),
    )
    assert me.username == "svc_rot"


async def test_a_reused_refresh_token_revokes_the_whole_session(stub: Stub) -> None:
    login = await _session(stub, "svc_reuse")
    renewed = await _refresh(stub, login.refresh_token)
    assert "already used" in await _refused(stub, login.refresh_token)
    assert "revoked" in await _refused(stub, renewed.refresh_token)


async def test_two_concurrent_refreshes_with_one_token_leave_one_winner(stub: Stub) -> None:
    login = await _session(stub, "svc_race")
    calls = [_refresh(stub, login.refresh_token) for _ in range(2)]
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    won = [o for o in outcomes if isinstance(o, auth_pb2.AccessToken)]
    lost = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert (len(won), len(lost)) == (1, 1)
    assert lost[0].code() is grpc.StatusCode.UNAUTHENTICATED
    # The loser's reuse revoked the family, the winner's new token with it.
    assert "revoked" in await _refused(stub, won[0].refresh_token)


async def test_an_unknown_refresh_token_is_refused(stub: Stub) -> None:
    assert await _refused(stub, "made-up") == "Invalid refresh token"
    assert await _refused(stub, "") == "Invalid refresh token"


async def test_logout_revokes_the_session(stub: Stub) -> None:
    login = await _session(stub, "svc_logout")
    await stub.Logout(auth_pb2.LogoutRequest(refresh_token=login.refresh_token))
    await stub.Logout(auth_pb2.LogoutRequest(refresh_token=login.refresh_token))  # again: fine
    assert "revoked" in await _refused(stub, login.refresh_token)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Logout(auth_pb2.LogoutRequest(refresh_token="made-up"))
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_deleting_the_account_revokes_its_refresh_tokens(stub: Stub) -> None:
    login = await _session(stub, "svc_gone")
    await stub.DeleteCurrentUser(
        auth_pb2.DeleteCurrentUserRequest(),
        metadata=(("authorization", f"Bearer {login.access_token}"),),
    )
    assert "revoked" in await _refused(stub, login.refresh_token)


async def test_the_login_form_takes_the_oauth2_refresh_grant(stub: Stub) -> None:
    login = await _session(stub, "svc_grant")
    body = f"grant_type=refresh_token&refresh_token={login.refresh_token}".encode()
    form = httpbody_pb2.HttpBody(content_type="application/x-www-form-urlencoded", data=body)
    renewed = await stub.LoginWithForm(auth_pb2.LoginWithFormRequest(form=form))
    assert renewed.refresh_token not in ("", login.refresh_token)
    with pytest.raises(grpc.aio.AioRpcError) as caught:  # the old one is used up
        await stub.LoginWithForm(auth_pb2.LoginWithFormRequest(form=form))
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    missing = httpbody_pb2.HttpBody(
        content_type="application/x-www-form-urlencoded", data=b"grant_type=refresh_token"
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.LoginWithForm(auth_pb2.LoginWithFormRequest(form=missing))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
