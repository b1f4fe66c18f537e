"""ListArticles' filters and full-text search over real gRPC: author_id, author, drafts, q,
every error they answer, and page tokens tied to their filters."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import pytest
from blog.articles.v1 import articles_pb2 as pb

from .conftest import User
from .helpers import field_violations, rpc_error

ALICE_NAME = "articles_alice"  # the conftest's users, as the account feed told the service


def _word() -> str:
    """A word no other test's article holds, so each test sees only its own articles."""
    return f"w{uuid.uuid4().hex[:12]}"


async def _create(stub: Any, user: User, title: str, published: bool = True) -> Any:
    request = pb.CreateArticleRequest(
        title=title, content="Some content, long enough.", published=published
    )
    return await stub.CreateArticle(request, metadata=user.metadata)


async def _ids(stub: Any, metadata: Any = (), **fields: Any) -> list[int]:
    page = await stub.ListArticles(pb.ListArticlesRequest(**fields), metadata=metadata)
    return [a.id for a in page.articles]


async def test_an_author_filter_lists_their_published_articles_by_id_or_name(stub, alice, bob):
    word = _word()
    public = await _create(stub, alice, f"{word} public")
    await _create(stub, alice, f"{word} draft", published=False)
    await _create(stub, bob, f"{word} bob's")
    for fields in ({"author_id": alice.id}, {"author": ALICE_NAME.upper()}):
        for metadata in ((), alice.metadata):
            assert await _ids(stub, metadata, q=word, **fields) == [public.id]


async def test_drafts_list_the_callers_own_articles_drafts_included(stub, alice, bob):
    word = _word()
    public = await _create(stub, alice, f"{word} public")
    draft = await _create(stub, alice, f"{word} draft", published=False)
    await _create(stub, bob, f"{word} bob's draft", published=False)
    for fields in ({}, {"author_id": alice.id}, {"author": ALICE_NAME}):
        found = await _ids(stub, alice.metadata, q=word, drafts=True, **fields)
        assert found == [draft.id, public.id]


async def test_an_unknown_author_is_an_empty_page(stub, alice):
    assert await _ids(stub, author="nobody_at_all") == []
    assert await _ids(stub, alice.metadata, author="nobody_at_all", drafts=True) == []
    assert await _ids(stub, author_id=2_000_000_000) == []


async def test_drafts_without_a_token_are_unauthenticated(stub):
    error = await rpc_error(stub.ListArticles(pb.ListArticlesRequest(drafts=True)))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("by_name", [False, True])
async def test_another_users_drafts_are_permission_denied(stub, alice, bob, by_name):
    fields = {"author": ALICE_NAME} if by_name else {"author_id": alice.id}
    request = pb.ListArticlesRequest(drafts=True, **fields)
    error = await rpc_error(stub.ListArticles(request, metadata=bob.metadata))
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"author_id": 0}, "author_id"),
        ({"author_id": -1}, "author_id"),
        ({"author_id": 1, "author": "someone"}, "author"),
        ({"author": "not a name"}, "author"),
        ({"author": "x\x00y"}, "author"),
        ({"q": "q" * 201}, "q"),
        ({"q": "nul\x00"}, "q"),
        ({"q": "x", "page_token": "garbage"}, "page_token"),
    ],
)
async def test_bad_filters_are_invalid_argument_naming_the_field(stub, fields, field):
    error = await rpc_error(stub.ListArticles(pb.ListArticlesRequest(**fields)))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(error) == {field}


@pytest.mark.parametrize(
    "q", ["'", '"unclosed', "a & b | !c", "((( <-> :*", "-", "or", "!!!", "\\", "é" * 200]
)
async def test_hostile_search_text_answers_a_page(stub, q):
    page = await stub.ListArticles(pb.ListArticlesRequest(q=q))
    assert isinstance(list(page.articles), list)


async def test_search_finds_published_articles_and_the_callers_drafts(stub, alice, bob):
    word = _word()
    public = await _create(stub, bob, f"About {word.upper()}")
    draft = await _create(stub, alice, f"{word} draft", published=False)
    await _create(stub, bob, f"{word} secret", published=False)
    assert await _ids(stub, q=word) == [public.id]
    assert await _ids(stub, alice.metadata, q=word) == [draft.id, public.id]


async def test_page_tokens_walk_a_search_to_its_end(stub, alice):
    word = _word()
    made = [(await _create(stub, alice, f"{word} {n}")).id for n in range(5)]
    seen: list[int] = []
    token = ""
    while True:
        request = pb.ListArticlesRequest(q=word, author_id=alice.id, limit=2, page_token=token)
        page = await stub.ListArticles(request)
        seen += [a.id for a in page.articles]
        token = page.next_page_token
        if not token:
            break
    assert seen == made[::-1]


async def test_a_token_of_one_filter_is_refused_for_another(stub, alice):
    word = _word()
    for n in range(3):
        await _create(stub, alice, f"{word} {n}")
    first = await stub.ListArticles(pb.ListArticlesRequest(q=word, limit=1))
    for other in ({"q": _word()}, {}, {"q": word, "author_id": alice.id}):
        request = pb.ListArticlesRequest(limit=1, page_token=first.next_page_token, **other)
        error = await rpc_error(stub.ListArticles(request))
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert field_violations(error) == {"page_token"}
