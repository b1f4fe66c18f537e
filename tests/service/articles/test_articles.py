"""The article service over a real channel, with real users and tokens from the auth service."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from blog.articles.v1 import articles_pb2 as pb

from .conftest import User
from .helpers import field_violations, rpc_error

CONTENT = "Some content, long enough."


async def _create(stub: Any, user: User, title: str = "A title", published: bool = False) -> Any:
    request = pb.CreateArticleRequest(title=title, content=CONTENT, published=published)
    return await stub.CreateArticle(request, metadata=user.metadata)


async def test_create_answers_the_article(stub, alice):
    call = stub.CreateArticle(
        pb.CreateArticleRequest(title="Hello", content=CONTENT), metadata=alice.metadata
    )
    article = await call
    assert not tuple(await call.initial_metadata())  # the gateway's route table says 201
    assert (article.title, article.author_id, article.published) == ("Hello", alice.id, False)
    assert article.id > 0
    assert article.created_at.seconds > 0
    assert article.created_at == article.updated_at


async def test_create_without_a_token_is_unauthenticated(stub):
    error = await rpc_error(stub.CreateArticle(pb.CreateArticleRequest(title="t", content=CONTENT)))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert error.details() == "Could not validate credentials"


async def test_get_returns_a_published_article_to_anyone(stub, alice, bob):
    article = await _create(stub, alice, published=True)
    assert await stub.GetArticle(pb.GetArticleRequest(id=article.id)) == article
    assert await stub.GetArticle(pb.GetArticleRequest(id=article.id), metadata=bob.metadata) == (
        article
    )


async def test_a_draft_exists_only_for_its_author(stub, alice, bob):
    draft = await _create(stub, alice)
    assert await stub.GetArticle(pb.GetArticleRequest(id=draft.id), metadata=alice.metadata) == (
        draft
    )
    for metadata in (bob.metadata, ()):
        error = await rpc_error(
            stub.GetArticle(pb.GetArticleRequest(id=draft.id), metadata=metadata)
        )
        assert error.code() is grpc.StatusCode.NOT_FOUND
        assert error.details() == "Article not found"
    listed = await stub.ListArticles(pb.ListArticlesRequest(), metadata=bob.metadata)
    assert draft.id not in [a.id for a in listed.articles]


@pytest.mark.parametrize("article_id", [0, -5, 2_000_000_000])
async def test_get_of_a_missing_or_impossible_id_is_not_found(stub, article_id):
    error = await rpc_error(stub.GetArticle(pb.GetArticleRequest(id=article_id)))
    assert error.code() is grpc.StatusCode.NOT_FOUND


async def test_list_shows_own_drafts_newest_first_and_pages(stub, alice):
    made = [await _create(stub, alice, title=f"page {i}", published=i != 1) for i in range(3)]
    newest_first = [a.id for a in reversed(made)]
    listed = await stub.ListArticles(pb.ListArticlesRequest(limit=3), metadata=alice.metadata)
    assert [a.id for a in listed.articles] == newest_first
    page = await stub.ListArticles(pb.ListArticlesRequest(skip=1, limit=1), metadata=alice.metadata)
    assert [a.id for a in page.articles] == newest_first[1:2]
    anonymous = await stub.ListArticles(pb.ListArticlesRequest(limit=3))
    assert made[1].id not in [a.id for a in anonymous.articles]


async def test_list_without_a_limit_returns_at_most_a_hundred(stub, alice):
    listed = await stub.ListArticles(pb.ListArticlesRequest())
    assert 0 < len(listed.articles) <= 100


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.ListArticlesRequest(skip=-1), "skip"),
        (pb.ListArticlesRequest(limit=0), "limit"),
        (pb.ListArticlesRequest(limit=101), "limit"),
    ],
)
async def test_list_rejects_out_of_range_paging_naming_the_field(stub, request_, field):
    error = await rpc_error(stub.ListArticles(request_))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(error) == {field}


@pytest.mark.parametrize(
    ("title", "content", "fields"),
    [
        ("", CONTENT, {"title"}),
        ("   ", CONTENT, {"title"}),
        ("x" * 201, CONTENT, {"title"}),
        ("Title", "short", {"content"}),
        ("", "", {"title", "content"}),
        ("Title", "nul \x00 in the content", {"content"}),
    ],
)
async def test_create_rejects_invalid_input_with_field_violations(
    stub, alice, title, content, fields
):
    request = pb.CreateArticleRequest(title=title, content=content)
    error = await rpc_error(stub.CreateArticle(request, metadata=alice.metadata))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(error) == fields


async def test_a_title_of_200_multibyte_characters_is_accepted(stub, alice):
    article = await _create(stub, alice, title="ü" * 200)
    assert article.title == "ü" * 200


async def test_update_changes_only_the_sent_fields_including_published_false(stub, alice):
    article = await _create(stub, alice, published=True)
    updated = await stub.UpdateArticle(
        pb.UpdateArticleRequest(id=article.id, published=False), metadata=alice.metadata
    )
    assert updated.published is False
    assert (updated.title, updated.content) == (article.title, article.content)
    assert updated.updated_at.ToDatetime() > article.updated_at.ToDatetime()
    retitled = await stub.UpdateArticle(
        pb.UpdateArticleRequest(id=article.id, title="New title"), metadata=alice.metadata
    )
    assert (retitled.title, retitled.published) == ("New title", False)


async def test_an_empty_update_returns_the_article_unchanged(stub, alice):
    article = await _create(stub, alice)
    same = await stub.UpdateArticle(pb.UpdateArticleRequest(id=article.id), metadata=alice.metadata)
    assert same == article


async def test_update_rejects_an_invalid_sent_field(stub, alice):
    article = await _create(stub, alice)
    request = pb.UpdateArticleRequest(id=article.id, title=" ", content="tiny")
    error = await rpc_error(stub.UpdateArticle(request, metadata=alice.metadata))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(error) == {"title", "content"}


async def test_a_non_author_may_not_update_or_delete(stub, alice, bob):
    article = await _create(stub, alice, published=True)
    update = pb.UpdateArticleRequest(id=article.id, title="Stolen")
    error = await rpc_error(stub.UpdateArticle(update, metadata=bob.metadata))
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    delete = pb.DeleteArticleRequest(id=article.id)
    error = await rpc_error(stub.DeleteArticle(delete, metadata=bob.metadata))
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    assert await stub.GetArticle(pb.GetArticleRequest(id=article.id)) == article


async def test_someone_elses_draft_is_not_found_for_update_and_delete(stub, alice, bob):
    draft = await _create(stub, alice)
    update = pb.UpdateArticleRequest(id=draft.id, published=True)
    error = await rpc_error(stub.UpdateArticle(update, metadata=bob.metadata))
    assert error.code() is grpc.StatusCode.NOT_FOUND
    error = await rpc_error(
        stub.DeleteArticle(pb.DeleteArticleRequest(id=draft.id), metadata=bob.metadata)
    )
    assert error.code() is grpc.StatusCode.NOT_FOUND


async def test_the_author_deletes_and_the_article_is_gone(stub, alice):
    article = await _create(stub, alice)
    call = stub.DeleteArticle(pb.DeleteArticleRequest(id=article.id), metadata=alice.metadata)
    await call
    error = await rpc_error(stub.GetArticle(pb.GetArticleRequest(id=article.id)))
    assert error.code() is grpc.StatusCode.NOT_FOUND
    error = await rpc_error(
        stub.DeleteArticle(pb.DeleteArticleRequest(id=article.id), metadata=alice.metadata)
    )
    assert error.code() is grpc.StatusCode.NOT_FOUND
