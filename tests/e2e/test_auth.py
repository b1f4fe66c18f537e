"""The auth rows of the SPEC's HTTP table, over HTTP through Envoy."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import pytest

from tests.e2e.conftest import LOGIN_MAX_FAILURES, PASSWORD, new_user, register

USER_FIELDS = {"id", "email", "username", "created_at", "updated_at"}


def assert_rfc3339(value: str) -> None:
    assert "T" in value
    assert datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None


async def test_register_answers_201_with_the_user_in_snake_case(http):
    reply = await http.post(
        "/auth/register/",
        json={"email": "Carol@Example.com", "username": "e2e_carol", "password": PASSWORD},
    )
    assert reply.status_code == 201, reply.text
    user = reply.json()
    assert set(user) == USER_FIELDS
    assert isinstance(user["id"], int)
    assert user["username"] == "e2e_carol"
    assert_rfc3339(user["created_at"])
    assert_rfc3339(user["updated_at"])
    assert "password" not in reply.text


async def test_register_rejects_a_taken_username_or_email_with_409(http):
    assert (await register(http, "e2e_dave")).status_code == 201
    same_name = await http.post(
        "/auth/register",
        json={"email": "other@example.com", "username": "e2e_dave", "password": PASSWORD},
    )
    same_email = await http.post(
        "/auth/register",
        json={"email": "E2E_DAVE@example.com", "username": "e2e_dave2", "password": PASSWORD},
    )
    assert same_name.status_code == 409, same_name.text
    assert same_email.status_code == 409, same_email.text
    assert same_email.json()["message"]


async def test_register_names_each_invalid_field_in_a_400(http):
    reply = await http.post(
        "/auth/register", json={"email": "not-an-email", "username": "x", "password": "short"}
    )
    assert reply.status_code == 400, reply.text
    body = reply.json()
    assert body["message"]
    [details] = body["details"]
    assert details["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    fields = {item["field"] for item in details["field_violations"]}
    assert {"email", "username", "password"} <= fields


async def test_login_accepts_the_oauth2_password_form(http, alice):
    reply = await http.post("/auth/login", data={"username": alice.username, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    token = reply.json()
    assert set(token) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "refresh_expires_in",
    }
    assert token["token_type"] == "bearer"
    assert isinstance(token["expires_in"], int)
    assert token["expires_in"] > 0


async def test_login_accepts_json_too_with_or_without_the_trailing_slash(http, alice):
    for path in ("/auth/login", "/auth/login/"):
        reply = await http.post(path, json={"username": alice.username, "password": PASSWORD})
        assert reply.status_code == 200, reply.text
        assert reply.json()["token_type"] == "bearer"


async def test_login_gives_the_same_401_for_a_wrong_password_and_an_unknown_user(http, bob):
    wrong = await http.post("/auth/login", data={"username": bob.username, "password": "nope-nope"})
    unknown = await http.post("/auth/login", data={"username": "e2e_ghost", "password": "x" * 9})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["message"] == unknown.json()["message"]
    assert wrong.headers["www-authenticate"] == "Bearer"


async def test_login_is_throttled_with_429_after_repeated_failures(http, alice):
    await register(http, "e2e_target")
    statuses = []
    for _ in range(LOGIN_MAX_FAILURES + 1):
        reply = await http.post("/auth/login", data={"username": "e2e_target", "password": "bad!"})
        statuses.append(reply.status_code)
    assert statuses[:LOGIN_MAX_FAILURES] == [401] * LOGIN_MAX_FAILURES
    assert statuses[-1] == 429
    assert reply.json()["message"]
    # Another account is not touched by the attack on this one.
    other = await http.post("/auth/login", data={"username": "e2e_alice", "password": PASSWORD})
    assert other.status_code == 200, other.text


async def test_me_returns_the_token_owner(http, alice):
    reply = await http.get("/auth/me", headers=alice.headers)
    assert reply.status_code == 200, reply.text
    assert reply.json()["username"] == alice.username
    assert reply.json()["id"] == alice.id


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer not.a.token"}, {"authorization": "Basic Zm9vOmJhcg=="}],
    ids=["missing", "garbage", "wrong-scheme"],
)
async def test_me_without_a_valid_token_is_401_with_www_authenticate(http, headers):
    reply = await http.get("/auth/me", headers=headers)
    assert reply.status_code == 401, reply.text
    assert reply.headers["www-authenticate"] == "Bearer"
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["message"]


@pytest.mark.parametrize("method", ["Login", "BatchGetUsers", "ListPublicKeys", "WatchUserEvents"])
async def test_internal_rpcs_are_not_reachable_through_the_gateway(http, alice, method):
    path = f"/blog.auth.v1.AuthService/{method}"
    as_json = await http.post(path, json={"username": alice.username, "password": PASSWORD})
    as_grpc = await http.post(
        path, content=b"\x00\x00\x00\x00\x00", headers={"content-type": "application/grpc"}
    )
    assert as_json.status_code == 404
    assert "access_token" not in as_json.text
    # A native gRPC call has no route either: Envoy answers UNIMPLEMENTED (12) itself.
    assert as_grpc.headers["grpc-status"] == "12"
    assert as_grpc.content == b""


async def test_delete_me_answers_204_then_the_token_and_the_articles_are_gone(http):
    user = await new_user(http, "e2e_leaver")
    created = await http.post(
        "/articles",
        json={"title": "Soon gone", "content": "Deleted with its author.", "published": True},
        headers=user.headers,
    )
    assert created.status_code == 201, created.text
    reply = await http.delete("/auth/me/", headers=user.headers)
    assert reply.status_code == 204, reply.text
    assert reply.content == b""
    after = await http.get("/auth/me", headers=user.headers)
    assert after.status_code == 401
    assert after.headers["www-authenticate"] == "Bearer"
    # The article service learns of the deletion through the auth service's event feed.
    status = 200
    for _ in range(100):
        status = (await http.get(f"/articles/{created.json()['id']}")).status_code
        if status == 404:
            break
        await asyncio.sleep(0.1)
    assert status == 404


async def test_delete_me_without_a_token_is_401(http):
    reply = await http.delete("/auth/me")
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"] == "Bearer"


async def test_a_retried_registration_with_its_request_id_answers_the_same_201(http):
    name = f"retry-{uuid.uuid4().hex[:12]}"
    body = {
        "email": f"{name}@example.com",
        "username": name,
        "password": "correct horse battery",
        "request_id": str(uuid.uuid4()),
    }
    first = await http.post("/auth/register", json=body)
    again = await http.post("/auth/register", json=body)
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.json() == first.json()
    other = await http.post("/auth/register", json={**body, "email": f"other-{name}@example.com"})
    assert other.status_code == 400
    [details] = other.json()["details"]
    assert [item["field"] for item in details["field_violations"]] == ["request_id"]
