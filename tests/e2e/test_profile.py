"""PATCH /auth/me over HTTP through Envoy: the change, its error rows, and the rename
reaching the author's articles through the account feed."""

from __future__ import annotations

import asyncio

from tests.e2e.conftest import new_user, register


async def test_patch_me_changes_the_fields_sent_and_answers_the_user(http):
    user = await new_user(http, "e2e_pat")
    bearer = {"authorization": f"Bearer {user.token}"}
    reply = await http.patch("/auth/me", json={"email": "E2E_PAT2@example.com"}, headers=bearer)
    assert reply.status_code == 200, reply.text
    assert reply.json()["email"] == "E2E_PAT2@example.com"
    assert reply.json()["username"] == "e2e_pat"
    renamed = await http.patch("/auth/me/", json={"username": "e2e_pat2"}, headers=bearer)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["username"] == "e2e_pat2"
    assert (await http.get("/auth/me", headers=bearer)).json()["username"] == "e2e_pat2"


async def test_patch_me_refuses_a_taken_username_or_email_with_409(http):
    assert (await register(http, "e2e_pat_taken")).status_code == 201
    user = await new_user(http, "e2e_pat3")
    bearer = {"authorization": f"Bearer {user.token}"}
    for body in ({"username": "E2E_PAT_TAKEN"}, {"email": "e2e_pat_taken@EXAMPLE.com"}):
        reply = await http.patch("/auth/me", json=body, headers=bearer)
        assert reply.status_code == 409, reply.text
        assert reply.json()["message"]


async def test_patch_me_names_invalid_fields_in_a_400_and_needs_a_token(http):
    user = await new_user(http, "e2e_pat4")
    bearer = {"authorization": f"Bearer {user.token}"}
    reply = await http.patch("/auth/me", json={"username": "x", "email": "no"}, headers=bearer)
    assert reply.status_code == 400, reply.text
    [details] = reply.json()["details"]
    assert {item["field"] for item in details["field_violations"]} == {"username", "email"}
    anonymous = await http.patch("/auth/me", json={"username": "e2e_pat5"})
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")


async def test_a_rename_reaches_the_authors_articles_within_seconds(http):
    user = await new_user(http, "e2e_pat6")
    bearer = {"authorization": f"Bearer {user.token}"}
    body = {"title": "Renamed", "content": "Content long enough.", "published": True}
    created = await http.post("/articles", json=body, headers=bearer)
    assert created.status_code == 201, created.text
    article_id = created.json()["id"]
    reply = await http.patch("/auth/me", json={"username": "e2e_pat6_new"}, headers=bearer)
    assert reply.status_code == 200, reply.text
    for _ in range(100):
        article = (await http.get(f"/articles/{article_id}")).json()
        if article.get("author_username") == "e2e_pat6_new":
            break
        await asyncio.sleep(0.05)
    assert article["author_username"] == "e2e_pat6_new"
