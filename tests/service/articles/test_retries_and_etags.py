"""Safe retries of CreateArticle (request_id) and concurrent-edit protection (etag)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import grpc
from blog.articles.v1 import articles_pb2 as pb
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from .conftest import User
from .helpers import field_violations, rpc_error

CONTENT = "Some content, long enough."


async def _rows_with(url: str, request_id: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            found = await connection.scalar(
                text("SELECT count(*) FROM articles.articles WHERE request_id = :id"),
                {"id": uuid.UUID(request_id)},
            )
    finally:
        await engine.dispose()
    return int(found)


async def _create(stub: Any, user: User, request_id: str = "", title: str = "A title") -> Any:
    request = pb.CreateArticleRequest(title=title, content=CONTENT, request_id=request_id)
    return await stub.CreateArticle(request, metadata=user.metadata)


async def test_a_repeated_create_returns_the_first_article_and_creates_nothing(
    stub, alice, database
):
    request_id = str(uuid.uuid4())
    first = await _create(stub, alice, request_id, title="first")
    again = await _create(stub, alice, request_id, title="second try")
    assert again == first
    assert await _rows_with(database.urls["articles"], request_id) == 1


async def test_concurrent_repeats_create_one_article(stub, alice, database):
    request_id = str(uuid.uuid4())
    created = await asyncio.gather(*(_create(stub, alice, request_id) for _ in range(5)))
    assert len({article.id for article in created}) == 1
    assert await _rows_with(database.urls["articles"], request_id) == 1


async def test_the_same_request_id_of_two_authors_creates_two_articles(stub, alice, bob, database):
    request_id = str(uuid.uuid4())
    of_alice = await _create(stub, alice, request_id)
    of_bob = await _create(stub, bob, request_id)
    assert of_alice.id != of_bob.id
    assert (of_alice.author_id, of_bob.author_id) == (alice.id, bob.id)
    assert await _rows_with(database.urls["articles"], request_id) == 2


async def test_creates_without_a_request_id_are_never_merged(stub, alice):
    first, second = await _create(stub, alice), await _create(stub, alice)
    assert first.id != second.id


async def test_a_request_id_that_is_not_a_uuid_is_invalid(stub, alice):
    error = await rpc_error(_create(stub, alice, "not-a-uuid"))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(error) == {"request_id"}


async def test_a_stale_etag_is_aborted_and_writes_nothing(stub, alice):
    article = await _create(stub, alice)
    changed = await stub.UpdateArticle(
        pb.UpdateArticleRequest(id=article.id, title="Changed", etag=article.etag),
        metadata=alice.metadata,
    )
    assert changed.etag != article.etag
    stale = pb.UpdateArticleRequest(id=article.id, title="Lost update", etag=article.etag)
    error = await rpc_error(stub.UpdateArticle(stale, metadata=alice.metadata))
    assert error.code() is grpc.StatusCode.ABORTED
    assert error.details() == "Article was changed by someone else; reload and retry"
    stored = await stub.GetArticle(pb.GetArticleRequest(id=article.id), metadata=alice.metadata)
    assert stored == changed


async def test_a_stale_etag_on_an_empty_update_is_aborted_too(stub, alice):
    article = await _create(stub, alice)
    await stub.UpdateArticle(
        pb.UpdateArticleRequest(id=article.id, title="Changed"), metadata=alice.metadata
    )
    stale = pb.UpdateArticleRequest(id=article.id, etag=article.etag)
    error = await rpc_error(stub.UpdateArticle(stale, metadata=alice.metadata))
    assert error.code() is grpc.StatusCode.ABORTED


async def test_the_current_etag_updates_and_the_etag_changes(stub, alice):
    article = await _create(stub, alice)
    assert article.etag
    fetched = await stub.GetArticle(pb.GetArticleRequest(id=article.id), metadata=alice.metadata)
    assert fetched.etag == article.etag
    updated = await stub.UpdateArticle(
        pb.UpdateArticleRequest(id=article.id, title="New title", etag=article.etag),
        metadata=alice.metadata,
    )
    assert updated.title == "New title"
    assert updated.etag not in ("", article.etag)
    again = await stub.UpdateArticle(
        pb.UpdateArticleRequest(id=article.id, published=True, etag=updated.etag),
        metadata=alice.metadata,
    )
    assert again.published is True
    assert again.etag not in (article.etag, updated.etag)


async def test_without_an_etag_updates_work_as_before(stub, alice):
    article = await _create(stub, alice)
    for title in ("one", "two"):
        updated = await stub.UpdateArticle(
            pb.UpdateArticleRequest(id=article.id, title=title), metadata=alice.metadata
        )
        assert updated.title == title


async def test_an_etag_does_not_hide_not_found_or_permission_denied(stub, alice, bob):
    article = await _create(stub, alice)
    published = await stub.UpdateArticle(
        pb.UpdateArticleRequest(id=article.id, published=True), metadata=alice.metadata
    )
    stolen = pb.UpdateArticleRequest(id=article.id, title="Stolen", etag=published.etag)
    error = await rpc_error(stub.UpdateArticle(stolen, metadata=bob.metadata))
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    missing = pb.UpdateArticleRequest(id=2_000_000_000, title="Nope", etag="1.1")
    error = await rpc_error(stub.UpdateArticle(missing, metadata=alice.metadata))
    assert error.code() is grpc.StatusCode.NOT_FOUND


async def test_of_parallel_updates_with_one_etag_exactly_one_wins(stub, alice):
    article = await _create(stub, alice)
    titles = [f"writer {n}" for n in range(8)]
    results = await asyncio.gather(
        *(
            stub.UpdateArticle(
                pb.UpdateArticleRequest(id=article.id, title=title, etag=article.etag),
                metadata=alice.metadata,
            )
            for title in titles
        ),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, pb.Article)]
    losers = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(winners) == 1
    assert len(losers) == len(titles) - 1
    assert {e.code() for e in losers} == {grpc.StatusCode.ABORTED}
    stored = await stub.GetArticle(pb.GetArticleRequest(id=article.id), metadata=alice.metadata)
    assert stored == winners[0]
