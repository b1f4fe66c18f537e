"""ListArticles' filters with in-memory fakes: author, drafts, search, their errors, and
page tokens tied to the filters they were listed with."""

from __future__ import annotations

import pytest

from article_service import listing, operations
from article_service.errors import InvalidInputError, NotAuthenticatedError, NotAuthorError
from article_service.models import Article, ListFilter, NewArticle

from .fakes import FakeUnitOfWork

ALICE, BOB = 1, 2
CONTENT = "Ten chars or more"


@pytest.fixture
def uow() -> FakeUnitOfWork:
    unit = FakeUnitOfWork()
    unit.accounts.authors.update({ALICE: "alice", BOB: "bob"})
    return unit


async def _create(
    uow: FakeUnitOfWork, author: int, published: bool = True, title: str = "Title"
) -> Article:
    return await operations.create_article(uow, author, NewArticle(title, CONTENT, published))


async def _ids(uow: FakeUnitOfWork, caller: int | None, wanted: ListFilter) -> list[int]:
    page = await listing.list_page(uow.articles, caller, 0, None, "", wanted)
    return [a.id for a in page.articles]


def _fields(exc_info: pytest.ExceptionInfo[InvalidInputError]) -> set[str]:
    return {name for name, _ in exc_info.value.violations}


async def test_an_author_filter_lists_that_authors_published_articles_only(uow):
    mine = await _create(uow, ALICE)
    await _create(uow, ALICE, published=False)
    await _create(uow, BOB)
    for wanted in (ListFilter(author_id=ALICE), ListFilter(author="ALICE")):
        for caller in (None, ALICE, BOB):
            assert await _ids(uow, caller, wanted) == [mine.id]


async def test_an_unknown_author_is_an_empty_page(uow):
    await _create(uow, ALICE)
    assert await _ids(uow, None, ListFilter(author="nobody")) == []
    assert await _ids(uow, ALICE, ListFilter(author="nobody", drafts=True)) == []
    assert await _ids(uow, None, ListFilter(author_id=999)) == []


async def test_drafts_are_the_callers_own_articles_drafts_included(uow):
    published = await _create(uow, ALICE)
    draft = await _create(uow, ALICE, published=False)
    await _create(uow, BOB, published=False)
    expected = [draft.id, published.id]
    for wanted in (
        ListFilter(drafts=True),
        ListFilter(author_id=ALICE, drafts=True),
        ListFilter(author="Alice", drafts=True),
    ):
        assert await _ids(uow, ALICE, wanted) == expected


async def test_drafts_without_a_token_are_unauthenticated(uow):
    with pytest.raises(NotAuthenticatedError):
        await _ids(uow, None, ListFilter(drafts=True))


@pytest.mark.parametrize(
    "wanted", [ListFilter(author_id=BOB, drafts=True), ListFilter(author="bob", drafts=True)]
)
async def test_another_authors_drafts_are_permission_denied(uow, wanted):
    with pytest.raises(NotAuthorError, match="drafts"):
        await _ids(uow, ALICE, wanted)


async def test_search_finds_published_articles_and_the_callers_own_drafts(uow):
    public = await _create(uow, BOB, title="Tulips in spring")
    draft = await _create(uow, ALICE, published=False, title="tulips draft")
    await _create(uow, BOB, published=False, title="tulips secret")
    await _create(uow, BOB, title="Roses")
    assert await _ids(uow, None, ListFilter(q="tulips")) == [public.id]
    assert await _ids(uow, ALICE, ListFilter(q="tulips")) == [draft.id, public.id]
    assert await _ids(uow, ALICE, ListFilter(q="tulips", author="bob")) == [public.id]


@pytest.mark.parametrize(
    ("wanted", "field"),
    [
        (ListFilter(author_id=0), "author_id"),
        (ListFilter(author_id=-3), "author_id"),
        (ListFilter(author_id=ALICE, author="alice"), "author"),
        (ListFilter(author="no spaces allowed"), "author"),
        (ListFilter(author="ab"), "author"),
        (ListFilter(author="a" * 51), "author"),
        (ListFilter(q="x" * 201), "q"),
        (ListFilter(q="nul\x00inside"), "q"),
    ],
)
async def test_bad_filters_are_invalid_input_naming_the_field(uow, wanted, field):
    with pytest.raises(InvalidInputError) as exc_info:
        await _ids(uow, ALICE, wanted)
    assert _fields(exc_info) == {field}


async def test_two_hundred_characters_of_search_are_allowed(uow):
    assert await _ids(uow, None, ListFilter(q="word " * 40)) == []


async def test_page_tokens_follow_a_filtered_listing_to_its_end(uow):
    made = [await _create(uow, ALICE, title=f"tulips {n}") for n in range(5)]
    await _create(uow, BOB, title="tulips of bob")
    wanted = ListFilter(author_id=ALICE, q="tulips")
    seen: list[int] = []
    token = ""
    while True:
        page = await listing.list_page(uow.articles, None, 0, 2, token, wanted)
        seen += [a.id for a in page.articles]
        token = page.next_page_token
        if not token:
            break
    assert seen == [a.id for a in reversed(made)]


@pytest.mark.parametrize(
    ("made_with", "used_with"),
    [
        (ListFilter(), ListFilter(q="tulips")),
        (ListFilter(q="tulips"), ListFilter()),
        (ListFilter(q="tulips"), ListFilter(q="roses")),
        (ListFilter(author_id=ALICE), ListFilter(author="alice")),
        (ListFilter(author_id=ALICE), ListFilter(author_id=ALICE, drafts=True)),
    ],
)
async def test_a_token_made_for_one_filter_is_refused_for_another(uow, made_with, used_with):
    for n in range(3):
        await _create(uow, ALICE, title=f"tulips {n}")
    first = await listing.list_page(uow.articles, ALICE, 0, 1, "", made_with)
    assert first.next_page_token
    with pytest.raises(InvalidInputError) as exc_info:
        await listing.list_page(uow.articles, ALICE, 0, 1, first.next_page_token, used_with)
    assert _fields(exc_info) == {"page_token"}
