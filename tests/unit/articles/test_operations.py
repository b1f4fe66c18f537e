"""The article use cases with an in-memory repository: validation, visibility, authorship."""

from __future__ import annotations

import pytest

from article_service import listing, operations
from article_service.errors import (
    ArticleNotFoundError,
    ConcurrentChangeError,
    InvalidInputError,
    NotAuthorError,
)
from article_service.models import Article, ArticleChanges, NewArticle

from .fakes import FakeUnitOfWork

ALICE, BOB = 1, 2
CONTENT = "Ten chars!"


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


async def _create(
    uow: FakeUnitOfWork, author: int = ALICE, published: bool = False, title: str = "Title"
) -> Article:
    return await operations.create_article(uow, author, NewArticle(title, CONTENT, published))


def _fields(exc_info) -> set[str]:
    return {name for name, _ in exc_info.value.violations}


async def test_create_stores_the_article_as_the_callers_draft_and_commits(uow):
    article = await _create(uow)
    assert (article.author_id, article.published) == (ALICE, False)
    assert uow.committed


@pytest.mark.parametrize(
    ("title", "content", "fields"),
    [
        ("", CONTENT, {"title"}),
        ("   \t", CONTENT, {"title"}),
        ("x" * 201, CONTENT, {"title"}),
        ("Title", "too short", {"content"}),
        ("", "", {"title", "content"}),
        ("Ti\x00tle", CONTENT, {"title"}),
    ],
)
async def test_create_rejects_invalid_input_naming_each_field(uow, title, content, fields):
    with pytest.raises(InvalidInputError) as exc_info:
        await operations.create_article(uow, ALICE, NewArticle(title, content))
    assert _fields(exc_info) == fields
    assert not uow.articles.rows


async def test_title_length_counts_characters_not_bytes(uow):
    article = await _create(uow, title="é" * 200)  # 400 bytes in UTF-8
    assert len(article.title) == 200


async def test_a_draft_is_found_by_its_author_only(uow):
    draft = await _create(uow)
    assert await operations.get_article(uow.articles, ALICE, draft.id) == draft
    for stranger in (BOB, None):
        with pytest.raises(ArticleNotFoundError, match=r"^Article not found$"):
            await operations.get_article(uow.articles, stranger, draft.id)


async def test_a_published_article_is_found_by_anyone(uow):
    article = await _create(uow, published=True)
    assert await operations.get_article(uow.articles, None, article.id) == article


@pytest.mark.parametrize("article_id", [0, -1, 999])
async def test_get_answers_not_found_for_impossible_or_missing_ids(uow, article_id):
    with pytest.raises(ArticleNotFoundError):
        await operations.get_article(uow.articles, ALICE, article_id)


async def test_list_shows_published_and_own_drafts_newest_first(uow):
    mine = await _create(uow)
    bobs_draft = await _create(uow, author=BOB)
    bobs_public = await _create(uow, author=BOB, published=True)
    listed = (await listing.list_page(uow.articles, ALICE, 0, None)).articles
    assert [a.id for a in listed] == [bobs_public.id, mine.id]
    anonymous = (await listing.list_page(uow.articles, None, 0, None)).articles
    assert bobs_draft.id not in [a.id for a in anonymous]


async def test_list_defaults_to_a_hundred_articles(uow):
    for _ in range(105):
        await _create(uow, published=True)
    first = await listing.list_page(uow.articles, None, 0, None)
    assert len(first.articles) == 100
    rest = await listing.list_page(uow.articles, None, 0, None, first.next_page_token)
    assert len(rest.articles) == 5
    assert rest.next_page_token == ""  # the last page says so
    assert {a.id for a in first.articles}.isdisjoint(a.id for a in rest.articles)
    assert len((await listing.list_page(uow.articles, None, 100, None)).articles) == 5


@pytest.mark.parametrize(
    ("skip", "limit", "field"), [(-1, None, "skip"), (0, 0, "limit"), (0, 101, "limit")]
)
async def test_list_rejects_out_of_range_paging(uow, skip, limit, field):
    with pytest.raises(InvalidInputError) as exc_info:
        await listing.list_page(uow.articles, None, skip, limit)
    assert _fields(exc_info) == {field}


async def test_update_changes_only_the_sent_fields(uow):
    article = await _create(uow, published=True)
    updated = await operations.update_article(
        uow, ALICE, article.id, ArticleChanges(published=False)
    )
    assert updated.published is False
    assert (updated.title, updated.content) == (article.title, article.content)
    assert updated.updated_at > article.updated_at


async def test_an_empty_update_returns_the_article_unchanged(uow):
    article = await _create(uow)
    assert await operations.update_article(uow, ALICE, article.id, ArticleChanges()) == article


async def test_update_validates_only_the_sent_fields(uow):
    article = await _create(uow)
    with pytest.raises(InvalidInputError) as exc_info:
        await operations.update_article(uow, ALICE, article.id, ArticleChanges(content="short"))
    assert _fields(exc_info) == {"content"}


async def test_a_non_author_may_not_update_or_delete_a_published_article(uow):
    article = await _create(uow, published=True)
    with pytest.raises(NotAuthorError):
        await operations.update_article(uow, BOB, article.id, ArticleChanges(title="Mine now"))
    with pytest.raises(NotAuthorError):
        await operations.update_article(uow, BOB, article.id, ArticleChanges())
    with pytest.raises(NotAuthorError):
        await operations.delete_article(uow, BOB, article.id)
    assert uow.articles.rows[article.id] == article


async def test_someone_elses_draft_does_not_exist_for_update_or_delete(uow):
    draft = await _create(uow)
    with pytest.raises(ArticleNotFoundError):
        await operations.update_article(uow, BOB, draft.id, ArticleChanges(published=True))
    with pytest.raises(ArticleNotFoundError):
        await operations.delete_article(uow, BOB, draft.id)


async def test_the_author_deletes_their_article(uow):
    article = await _create(uow)
    await operations.delete_article(uow, ALICE, article.id)
    assert article.id not in uow.articles.rows
    with pytest.raises(ArticleNotFoundError):
        await operations.delete_article(uow, ALICE, article.id)


# --- safe retries and etags ---------------------------------------------------------

REQUEST_ID = "123e4567-e89b-12d3-a456-426614174000"


async def test_a_repeated_request_id_returns_the_first_article(uow):
    new = NewArticle("Title", CONTENT, request_id=REQUEST_ID)
    first = await operations.create_article(uow, ALICE, new)
    again = await operations.create_article(
        uow, ALICE, NewArticle("Other", CONTENT, True, REQUEST_ID)
    )
    assert again == first
    assert len(uow.articles.rows) == 1


async def test_a_request_id_is_per_author(uow):
    new = NewArticle("Title", CONTENT, request_id=REQUEST_ID)
    of_alice = await operations.create_article(uow, ALICE, new)
    of_bob = await operations.create_article(uow, BOB, new)
    assert of_alice.id != of_bob.id
    assert len(uow.articles.rows) == 2


@pytest.mark.parametrize(
    "request_id", ["nope", "123e4567e89b12d3a456426614174000", REQUEST_ID + "0"]
)
async def test_a_request_id_must_be_a_uuid(uow, request_id):
    with pytest.raises(InvalidInputError) as exc_info:
        await operations.create_article(
            uow, ALICE, NewArticle("Title", CONTENT, request_id=request_id)
        )
    assert _fields(exc_info) == {"request_id"}
    assert uow.articles.rows == {}


async def test_the_etag_changes_with_every_update(uow):
    article = await _create(uow)
    updated = await operations.update_article(
        uow, ALICE, article.id, ArticleChanges(title="New"), article.etag
    )
    assert updated.title == "New"
    assert updated.etag != article.etag


@pytest.mark.parametrize("stale", ["old", "1.999", "2.1", ""])
async def test_a_stale_or_foreign_etag_aborts_and_writes_nothing(uow, stale):
    article = await _create(uow)
    etag = article.etag if stale == "old" else stale
    if stale == "old":
        await operations.update_article(uow, ALICE, article.id, ArticleChanges(title="Newer"))
    before = uow.articles.rows[article.id]
    uow.committed = False
    with pytest.raises(ConcurrentChangeError):
        await operations.update_article(uow, ALICE, article.id, ArticleChanges(title="X"), etag)
    with pytest.raises(ConcurrentChangeError):
        await operations.update_article(uow, ALICE, article.id, ArticleChanges(), etag)
    assert uow.articles.rows[article.id] == before
    assert not uow.committed


async def test_an_etag_does_not_turn_not_found_or_not_author_into_aborted(uow):
    draft = await _create(uow)
    published = await _create(uow, published=True)
    with pytest.raises(ArticleNotFoundError):
        await operations.update_article(uow, BOB, draft.id, ArticleChanges(title="X"), "0.0")
    with pytest.raises(NotAuthorError):
        await operations.update_article(uow, BOB, published.id, ArticleChanges(title="X"), "0.0")
    with pytest.raises(ArticleNotFoundError):
        await operations.update_article(uow, ALICE, 99, ArticleChanges(title="X"), "99.1")


async def test_an_empty_update_with_the_current_etag_returns_the_article(uow):
    article = await _create(uow)
    same = await operations.update_article(uow, ALICE, article.id, ArticleChanges(), article.etag)
    assert same == article
