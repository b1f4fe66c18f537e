"""POST /auth/me/password over HTTP through Envoy: earlier tokens refused by both services,
the new pair working, and every error row."""

from __future__ import annotations

import asyncio

from tests.e2e.conftest import PASSWORD, new_user

NEW = "a brand new password"
ARTICLE = {"title": "After", "content": "Content long enough."}


async def test_a_change_answers_a_new_pair_and_earlier_tokens_are_refused_everywhere(http):
    user = await new_user(http, "e2e_pw")
    old = {"authorization": f"Bearer {user.token}"}
    assert (await http.post("/articles", json=ARTICLE, headers=old)).status_code == 201
    reply = await http.post(
        "/auth/me/password", json={"current_password": PASSWORD, "new_password": NEW}, headers=old
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["tokens_valid_after"].endswith("Z")
    assert set(body["token"]) >= {"access_token", "refresh_token", "token_type", "expires_in"}
    new = {"authorization": f"Bearer {body['token']['access_token']}"}
    assert (await http.get("/auth/me", headers=old)).status_code == 401  # auth: at once
    for _ in range(100):  # the article service: once the feed brought the change
        refused = await http.post("/articles", json=ARTICLE, headers=old)
        if refused.status_code == 401:
            break
        await asyncio.sleep(0.05)
    assert refused.status_code == 401
    assert (await http.post("/articles", json=ARTICLE, headers=new)).status_code == 201
    assert (await http.get("/auth/me", headers=new)).status_code == 200
    login = await http.post("/auth/login", data={"username": "e2e_pw", "password": NEW})
    assert login.status_code == 200


async def test_a_wrong_current_password_is_403(http):
    user = await new_user(http, "e2e_pw2")
    reply = await http.post(
        "/auth/me/password",
        json={"current_password": "not the password", "new_password": NEW},
        headers={"authorization": f"Bearer {user.token}"},
    )
    assert reply.status_code == 403, reply.text
    assert reply.json()["message"] == "Current password is incorrect"


async def test_an_invalid_new_password_is_400_and_no_token_is_401(http):
    user = await new_user(http, "e2e_pw3")
    body = {"current_password": PASSWORD, "new_password": "short"}
    bearer = {"authorization": f"Bearer {user.token}"}
    reply = await http.post("/auth/me/password", json=body, headers=bearer)
    assert reply.status_code == 400, reply.text
    [details] = reply.json()["details"]
    assert [item["field"] for item in details["field_violations"]] == ["new_password"]
    assert (await http.post("/auth/me/password", json=body)).status_code == 401
