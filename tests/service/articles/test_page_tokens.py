"""ListArticles page tokens (keyset paging) against the real server and database."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import grpc
import pytest
from blog.articles.v1 import articles_pb2 as pb

from .conftest import User
from .helpers import field_violations, rpc_error

CONTENT = "Some content, long enough."


async def _create(stub: Any, user: User, title: str, published: bool = True) -> Any:
    request = pb.CreateArticleRequest(title=title, content=CONTENT, published=published)
    return await stub.CreateArticle(request, metadata=user.metadata)


async def _all_by_skip(stub: Any, metadata: Any = ()) -> list[int]:
    """The whole listing, read with skip while nothing else writes: the ground truth."""
    ids: list[int] = []
    while True:
        page = await stub.ListArticles(
            pb.ListArticlesRequest(skip=len(ids), limit=100), metadata=metadata
        )
        ids += [a.id for a in page.articles]
        if len(page.articles) < 100:
            return ids


async def _all_by_token(
    stub: Any, limit: int, metadata: Any = (), between: Any = None
) -> tuple[list[int], int]:
    """(every id listed, pages read), following next_page_token to the end."""
    ids: list[int] = []
    token, pages = "", 0
    while True:
        page = await stub.ListArticles(
            pb.ListArticlesRequest(limit=limit, page_token=token), metadata=metadata
        )
        pages += 1
        ids += [a.id for a in page.articles]
        token = page.next_page_token
        if not token:
            return ids, pages
        assert len(page.articles) == limit  # only the last page is short
        if between is not None:
            await between(pages)


async def test_page_tokens_walk_the_whole_listing_once_newest_first(stub, alice, bob):
    for index in range(12):
        await _create(stub, alice if index % 2 else bob, f"token walk {index}")
    draft = await _create(stub, alice, "alice's draft", published=False)
    for metadata in ((), alice.metadata):
        expected = await _all_by_skip(stub, metadata)
        assert len(expected) > 7
        walked, pages = await _all_by_token(stub, 7, metadata)
        assert walked == expected
        assert pages == -(-len(expected) // 7)
        assert (draft.id in walked) is bool(metadata)  # the draft, for its author only


async def test_a_page_that_ends_the_listing_exactly_has_no_next_token(stub, alice):
    total = len(await _all_by_skip(stub))
    last = await stub.ListArticles(pb.ListArticlesRequest(skip=total - 3, limit=3))
    assert len(last.articles) == 3
    assert last.next_page_token == ""
    first = await stub.ListArticles(pb.ListArticlesRequest(limit=3))
    assert first.next_page_token != ""


async def test_skip_counts_from_the_token(stub, alice):
    expected = await _all_by_skip(stub)
    first = await stub.ListArticles(pb.ListArticlesRequest(limit=2))
    after = await stub.ListArticles(
        pb.ListArticlesRequest(skip=3, limit=2, page_token=first.next_page_token)
    )
    assert [a.id for a in after.articles] == expected[5:7]


async def test_new_articles_during_paging_cause_no_repeat_and_no_gap(stub, alice, bob):
    before = await _all_by_skip(stub)
    created: list[int] = []

    async def publish_more(page: int) -> None:
        made = await asyncio.gather(
            *(_create(stub, user, f"during page {page}") for user in (alice, bob, alice))
        )
        created.extend(a.id for a in made)

    walked, _ = await _all_by_token(stub, 4, between=publish_more)
    assert len(walked) == len(set(walked)), "an article was listed twice"
    assert [i for i in walked if i in set(before)] == before, "an older article was skipped"
    assert created
    assert not set(created) & set(walked[:4])  # none were there when page 1 was read
    assert set(created) <= set(await _all_by_skip(stub))  # they start the listing now


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "!!!!",
        "é",
        _b64(b"v1.not-a-number.5"),
        _b64(b"v2.1700000000000000.5"),
        _b64(b"v1.1700000000000000.0"),
        _b64(b"v1.1700000000000000.99999999999"),
        _b64(b"v1.999999999999999999.5"),  # beyond the year 9999
        _b64(b"v1.1700000000000000.5") + "A" * 80,
        _b64(b"\xff\xfe"),
    ],
)
async def test_a_token_that_is_not_ours_is_invalid_argument(stub, token):
    error = await rpc_error(stub.ListArticles(pb.ListArticlesRequest(page_token=token)))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(error) == {"page_token"}


async def test_the_token_travels_in_the_message_only(stub, alice):
    """REST clients get it as a header from the gateway, which moves it out of the body;
    the service itself sends no initial metadata (that would cost a gRPC operation)."""
    await _create(stub, alice, "one more")
    through_envoy = (("x-envoy-original-path", "/articles?limit=1"),)
    call = stub.ListArticles(pb.ListArticlesRequest(limit=1), metadata=through_envoy)
    page = await call
    assert page.next_page_token
    assert "x-next-page-token" not in dict(tuple(await call.initial_metadata()))
