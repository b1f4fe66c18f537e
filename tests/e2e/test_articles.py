"""The article rows of the SPEC's HTTP table, over HTTP through Envoy."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import User

ARTICLE_FIELDS = {"id", "title", "content", "published", "author_id", "created_at", "updated_at"}


async def create(http: httpx.AsyncClient, user: User, **fields: Any) -> dict[str, Any]:
    body = {"title": "A title", "content": "Some content here.", **fields}
    reply = await http.post("/articles", json=body, headers=user.headers)
    assert reply.status_code == 201, reply.text
    article: dict[str, Any] = reply.json()
    return article


@pytest.mark.parametrize("path", ["/articles", "/articles/"])
async def test_create_answers_201_and_a_draft_by_default(http, alice, path):
    reply = await http.post(
        path, json={"title": "Hello", "content": "Ten or more characters."}, headers=alice.headers
    )
    assert reply.status_code == 201, reply.text
    article = reply.json()
    assert set(article) >= ARTICLE_FIELDS
    assert article["published"] is False  # printed although it is the default
    assert isinstance(article["id"], int)
    assert article["author_id"] == alice.id


async def test_create_without_a_token_is_401_with_www_authenticate(http):
    reply = await http.post("/articles", json={"title": "t", "content": "0123456789"})
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"] == "Bearer"


async def test_create_names_the_invalid_fields_in_a_400(http, alice):
    reply = await http.post(
        "/articles", json={"title": "  ", "content": "short"}, headers=alice.headers
    )
    assert reply.status_code == 400, reply.text
    [details] = reply.json()["details"]
    assert {v["field"] for v in details["field_violations"]} == {"title", "content"}


@pytest.mark.parametrize("path", ["/articles", "/articles/"])
async def test_list_is_a_json_array_newest_first(http, alice, path):
    first = await create(http, alice, title="older", published=True)
    second = await create(http, alice, title="newer", published=True)
    reply = await http.get(path, params={"limit": 2})
    assert reply.status_code == 200, reply.text
    listed = reply.json()
    assert isinstance(listed, list)
    assert [a["id"] for a in listed] == [second["id"], first["id"]]
    assert set(listed[0]) >= ARTICLE_FIELDS


async def test_list_pages_with_skip_and_limit_and_ends_with_an_empty_array(http, alice):
    for n in range(3):
        await create(http, alice, title=f"page {n}", published=True)
    top = (await http.get("/articles", params={"limit": 3})).json()
    page = (await http.get("/articles", params={"skip": 1, "limit": 2})).json()
    assert [a["id"] for a in page] == [a["id"] for a in top[1:3]]
    past_the_end = await http.get("/articles", params={"skip": 100000})
    assert past_the_end.status_code == 200
    assert past_the_end.json() == []


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"skip": -1}, "skip")],
)
async def test_out_of_range_paging_is_a_400_naming_the_field(http, params, field):
    reply = await http.get("/articles", params=params)
    assert reply.status_code == 400, reply.text
    [details] = reply.json()["details"]
    assert [v["field"] for v in details["field_violations"]] == [field]


async def test_drafts_are_listed_and_shown_only_to_their_author(http, alice, bob):
    draft = await create(http, alice, title="secret draft")
    mine = (await http.get("/articles", params={"limit": 100}, headers=alice.headers)).json()
    theirs = (await http.get("/articles", params={"limit": 100}, headers=bob.headers)).json()
    assert draft["id"] in [a["id"] for a in mine]
    assert draft["id"] not in [a["id"] for a in theirs]
    assert (await http.get(f"/articles/{draft['id']}", headers=alice.headers)).status_code == 200
    hidden = await http.get(f"/articles/{draft['id']}", headers=bob.headers)
    assert hidden.status_code == 404
    assert hidden.json()["message"] == "Article not found"


async def test_get_returns_a_published_article_to_anyone(http, alice):
    article = await create(http, alice, published=True)
    for path in (f"/articles/{article['id']}", f"/articles/{article['id']}/"):
        reply = await http.get(path)
        assert reply.status_code == 200, reply.text
        assert {k: reply.json()[k] for k in ARTICLE_FIELDS} == {
            k: article[k] for k in ARTICLE_FIELDS
        }


async def test_get_of_a_missing_article_is_404_article_not_found(http):
    reply = await http.get("/articles/2000000000")
    assert reply.status_code == 404
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["message"] == "Article not found"


@pytest.mark.parametrize("article_id", ["abc", "1.5", "99999999999"])
async def test_a_malformed_id_is_a_400_not_a_server_error(http, article_id):
    reply = await http.get(f"/articles/{article_id}")
    assert reply.status_code == 400, reply.text
    assert reply.json()["message"]


async def test_patch_changes_only_the_fields_sent_false_included(http, alice):
    article = await create(http, alice, title="before", published=True)
    reply = await http.patch(
        f"/articles/{article['id']}", json={"published": False}, headers=alice.headers
    )
    assert reply.status_code == 200, reply.text
    patched = reply.json()
    assert patched["published"] is False
    assert patched["title"] == "before"
    assert patched["content"] == article["content"]
    retitled = await http.patch(
        f"/articles/{article['id']}/", json={"title": "after"}, headers=alice.headers
    )
    assert retitled.json()["title"] == "after"
    assert retitled.json()["published"] is False


async def test_patch_by_someone_else_is_403(http, alice, bob):
    article = await create(http, alice, published=True)
    reply = await http.patch(f"/articles/{article['id']}", json={"title": "x"}, headers=bob.headers)
    assert reply.status_code == 403, reply.text
    assert reply.json()["message"]


async def test_patch_cannot_retarget_another_article_through_the_body(http, alice):
    article = await create(http, alice, published=True)
    reply = await http.patch(
        f"/articles/{article['id']}",
        json={"id": article["id"] + 1, "title": "x"},
        headers=alice.headers,
    )
    assert reply.status_code == 400, reply.text


async def test_delete_answers_204_with_an_empty_body_and_the_connection_stays_usable(http, alice):
    article = await create(http, alice, published=True)
    reply = await http.delete(f"/articles/{article['id']}", headers=alice.headers)
    assert reply.status_code == 204
    assert reply.content == b""
    assert "content-type" not in reply.headers
    # Same keep-alive connection: a stray body would corrupt this next response.
    gone = await http.get(f"/articles/{article['id']}")
    assert gone.status_code == 404
    assert gone.json()["message"] == "Article not found"


async def test_delete_by_someone_else_is_403_and_of_a_missing_article_404(http, alice, bob):
    article = await create(http, alice, published=True)
    assert (await http.delete(f"/articles/{article['id']}", headers=bob.headers)).status_code == 403
    missing = await http.delete("/articles/2000000000", headers=alice.headers)
    assert missing.status_code == 404


async def test_delete_without_a_token_is_401(http, alice):
    article = await create(http, alice, published=True)
    reply = await http.delete(f"/articles/{article['id']}")
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"] == "Bearer"


async def test_a_stale_etag_is_a_409_and_a_repeated_post_returns_the_same_article(http, alice):
    body = {"title": "retried", "content": "Some content here.", "request_id": str(uuid.uuid4())}
    first = await http.post("/articles", json=body, headers=alice.headers)
    assert first.status_code == 201, first.text
    again = await http.post("/articles", json=body, headers=alice.headers)
    assert again.status_code == 201, again.text
    article = first.json()
    assert again.json() == article
    assert article["etag"]

    path = f"/articles/{article['id']}"
    fresh = await http.patch(
        path, json={"title": "first edit", "etag": article["etag"]}, headers=alice.headers
    )
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["etag"] != article["etag"]
    stale = await http.patch(
        path, json={"title": "lost edit", "etag": article["etag"]}, headers=alice.headers
    )
    assert stale.status_code == 409, stale.text
    assert stale.json()["message"] == "Article was changed by someone else; reload and retry"
    assert (await http.get(path, headers=alice.headers)).json()["title"] == "first edit"
