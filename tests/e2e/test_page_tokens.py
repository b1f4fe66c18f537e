"""ListArticles page tokens over REST: the body stays a bare array, the token is a header."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import User

HEADER = "x-next-page-token"


async def _publish(http: httpx.AsyncClient, user: User, count: int) -> None:
    for index in range(count):
        body = {"title": f"rest page {index}", "content": "Some content here.", "published": True}
        reply = await http.post("/articles", json=body, headers=user.headers)
        assert reply.status_code == 201, reply.text


async def test_rest_pages_follow_the_header_to_the_end_without_repeats(http, alice):
    await _publish(http, alice, 5)
    everything = (await http.get("/articles", params={"limit": 100})).json()
    assert len(everything) >= 5
    seen: list[int] = []
    params = {"limit": "2"}
    while True:
        reply = await http.get("/articles", params=params)
        assert reply.status_code == 200, reply.text
        page = reply.json()
        assert isinstance(page, list)  # the bare array, as without tokens
        seen += [article["id"] for article in page]
        token = reply.headers.get(HEADER)
        if token is None:
            break
        assert "next_page_token" not in reply.text
        params = {"limit": "2", "page_token": token}
    if len(everything) < 100:
        assert seen == [article["id"] for article in everything]


async def test_a_garbage_page_token_is_a_400_naming_it(http):
    reply = await http.get("/articles", params={"page_token": "not-a-token"})
    assert reply.status_code == 400, reply.text
    body = reply.json()
    assert body["code"] == 3
    assert "page_token" in reply.text


async def test_browsers_may_read_the_token_header(http, alice):
    await _publish(http, alice, 2)
    reply = await http.get(
        "/articles", params={"limit": 1}, headers={"origin": "http://localhost:3000"}
    )
    assert reply.status_code == 200
    assert HEADER in reply.headers
    assert HEADER in reply.headers["access-control-expose-headers"]
