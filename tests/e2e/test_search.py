"""GET /articles' filters and full-text search through Envoy: author_id, author, drafts, q,
their documented errors, hostile search text, and page tokens tied to their filters."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import User

HEADER = "x-next-page-token"


def _word() -> str:
    """A word only this test's articles hold."""
    return f"w{uuid.uuid4().hex[:12]}"


async def _create(
    http: httpx.AsyncClient, user: User, title: str, published: bool = True
) -> dict[str, Any]:
    body = {"title": title, "content": "Content long enough.", "published": published}
    reply = await http.post("/articles", json=body, headers=user.headers)
    assert reply.status_code == 201, reply.text
    article: dict[str, Any] = reply.json()
    return article


async def _ids(http: httpx.AsyncClient, user: User | None = None, **params: Any) -> list[int]:
    reply = await http.get("/articles", params=params, headers=user.headers if user else {})
    assert reply.status_code == 200, reply.text
    return [a["id"] for a in reply.json()]


def _field(reply: httpx.Response) -> str:
    [details] = reply.json()["details"]
    [violation] = details["field_violations"]
    return str(violation["field"])


async def test_author_id_lists_one_authors_published_articles(http, alice, bob):
    word = _word()
    public = await _create(http, alice, f"{word} public")
    await _create(http, alice, f"{word} draft", published=False)
    await _create(http, bob, f"{word} bob's")
    assert await _ids(http, q=word, author_id=alice.id) == [public["id"]]
    assert await _ids(http, alice, q=word, author_id=alice.id) == [public["id"]]


async def test_author_by_username_is_resolved_without_asking_auth(http, alice):
    word = _word()
    public = await _create(http, alice, f"{word} by name")
    for _ in range(100):  # the account feed may not have told the service the name yet
        if await _ids(http, q=word, author=alice.username.upper()) == [public["id"]]:
            break
        await asyncio.sleep(0.05)
    assert await _ids(http, q=word, author=alice.username.upper()) == [public["id"]]
    assert await _ids(http, author="nobody_by_that_name") == []


async def test_drafts_true_lists_the_callers_own_articles(http, alice, bob):
    word = _word()
    public = await _create(http, alice, f"{word} public")
    draft = await _create(http, alice, f"{word} draft", published=False)
    await _create(http, bob, f"{word} bob's draft", published=False)
    expected = [draft["id"], public["id"]]
    assert await _ids(http, alice, q=word, drafts="true") == expected
    assert await _ids(http, alice, q=word, drafts="true", author_id=alice.id) == expected


async def test_drafts_without_a_token_are_401_with_www_authenticate(http):
    reply = await http.get("/articles", params={"drafts": "true"})
    assert reply.status_code == 401, reply.text
    assert reply.headers["www-authenticate"] == "Bearer"


async def test_another_users_drafts_are_403(http, alice, bob):
    reply = await http.get(
        "/articles", params={"drafts": "true", "author_id": alice.id}, headers=bob.headers
    )
    assert reply.status_code == 403, reply.text


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"author_id": 0}, "author_id"),
        ({"author_id": 1, "author": "someone"}, "author"),
        ({"author": "no spaces"}, "author"),
        ({"q": "x" * 201}, "q"),
        ({"q": "a\x00b"}, "q"),
        ({"q": "y" * 1000}, "q"),
    ],
)
async def test_bad_filters_are_a_400_naming_the_field(http, params, field):
    reply = await http.get("/articles", params=params)
    assert reply.status_code == 400, reply.text
    assert _field(reply) == field


@pytest.mark.parametrize("params", [{"author_id": "abc"}, {"drafts": "maybe"}])
async def test_filters_of_the_wrong_type_are_a_400(http, params):
    reply = await http.get("/articles", params=params)
    assert reply.status_code == 400, reply.text


@pytest.mark.parametrize(
    "q",
    ["'", '"', "a & b | !c", "((( <-> :*", "-", "or", "!!!", "\\", "%", "+", "日本語", "é" * 200],
)
async def test_hostile_search_text_is_an_answer_never_a_server_error(http, q):
    reply = await http.get("/articles", params={"q": q})
    assert reply.status_code == 200, reply.text
    assert isinstance(reply.json(), list)


async def test_search_finds_published_articles_and_the_callers_drafts(http, alice, bob):
    word = _word()
    public = await _create(http, bob, f"About {word.upper()}")
    draft = await _create(http, alice, f"{word} draft", published=False)
    await _create(http, bob, f"{word} secret", published=False)
    assert await _ids(http, q=word) == [public["id"]]
    assert await _ids(http, alice, q=word) == [draft["id"], public["id"]]
    assert await _ids(http, q=f'"about {word}"') == [public["id"]]


async def test_a_search_pages_with_the_header_token_to_its_end(http, alice):
    word = _word()
    made = [(await _create(http, alice, f"{word} {n}"))["id"] for n in range(5)]
    seen: list[int] = []
    params: dict[str, Any] = {"q": word, "limit": 2}
    while True:
        reply = await http.get("/articles", params=params)
        assert reply.status_code == 200, reply.text
        seen += [a["id"] for a in reply.json()]
        token = reply.headers.get(HEADER)
        if token is None:
            break
        params = {"q": word, "limit": 2, "page_token": token}
    assert seen == made[::-1]


async def test_a_token_of_one_filter_is_a_400_naming_page_token_for_another(http, alice):
    word = _word()
    for n in range(3):
        await _create(http, alice, f"{word} {n}")
    first = await http.get("/articles", params={"q": word, "limit": 1})
    token = first.headers[HEADER]
    for other in ({"q": _word()}, {}, {"author_id": alice.id}):
        reply = await http.get("/articles", params={**other, "page_token": token})
        assert reply.status_code == 400, reply.text
        assert _field(reply) == "page_token"
