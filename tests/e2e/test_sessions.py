"""Refresh tokens and logout over HTTP through Envoy: rotation, reuse, logout, errors."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import PASSWORD, register


async def _login(http: httpx.AsyncClient, name: str) -> dict[str, object]:
    assert (await register(http, name)).status_code == 201
    reply = await http.post("/auth/login", data={"username": name, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


async def _refresh(http: httpx.AsyncClient, token: object) -> httpx.Response:
    return await http.post("/auth/refresh", json={"refresh_token": token})


async def test_refresh_answers_a_new_access_token_and_a_new_refresh_token(http):
    login = await _login(http, "e2e_refresh")
    reply = await _refresh(http, login["refresh_token"])
    assert reply.status_code == 200, reply.text
    renewed = reply.json()
    assert renewed["token_type"] == "bearer"
    assert renewed["refresh_token"] not in ("", login["refresh_token"])
    me = await http.get("/auth/me", headers={"authorization": f"Bearer {renewed['access_token']}"})
    assert me.status_code == 200
    assert me.json()["username"] == "e2e_refresh"


async def test_a_reused_refresh_token_is_401_and_revokes_the_session(http):
    login = await _login(http, "e2e_reuse")
    renewed = (await _refresh(http, login["refresh_token"])).json()
    reused = await _refresh(http, login["refresh_token"])
    assert reused.status_code == 401, reused.text
    assert "already used" in reused.json()["message"]
    family = await _refresh(http, renewed["refresh_token"])
    assert family.status_code == 401
    assert "revoked" in family.json()["message"]


async def test_an_unknown_refresh_token_is_401(http):
    reply = await _refresh(http, "made-up")
    assert reply.status_code == 401, reply.text
    assert reply.json()["message"] == "Invalid refresh token"


async def test_logout_answers_204_and_the_refresh_token_is_refused_afterwards(http):
    login = await _login(http, "e2e_logout")
    reply = await http.post("/auth/logout", json={"refresh_token": login["refresh_token"]})
    assert reply.status_code == 204, reply.text
    assert reply.content == b""
    assert (await _refresh(http, login["refresh_token"])).status_code == 401
    unknown = await http.post("/auth/logout/", json={"refresh_token": "made-up"})
    assert unknown.status_code == 401


async def test_deleting_the_account_revokes_its_refresh_tokens(http):
    login = await _login(http, "e2e_refresh_gone")
    bearer = {"authorization": f"Bearer {login['access_token']}"}
    assert (await http.delete("/auth/me", headers=bearer)).status_code == 204
    reply = await _refresh(http, login["refresh_token"])
    assert reply.status_code == 401
    assert "revoked" in reply.json()["message"]


async def test_the_login_endpoint_takes_the_oauth2_refresh_token_grant(http):
    login = await _login(http, "e2e_grant")
    form = {"grant_type": "refresh_token", "refresh_token": login["refresh_token"]}
    reply = await http.post("/auth/login", data=form)
    assert reply.status_code == 200, reply.text
    assert reply.json()["refresh_token"] != login["refresh_token"]
    assert (await http.post("/auth/login", data=form)).status_code == 401  # used up
