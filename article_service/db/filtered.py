"""The SQL of the filtered listings (models.Selection): one author's articles, and full-text
search, which takes up to two statements.

Why two: PostgreSQL cannot tell how many articles a search word matches unless the word is
among its most common ones, so it guesses about 0.5%. For "newest first, one page" that
guess makes walking the (created_at, id) index backward look cheap, and it is, for a common
word; for a rare one it reads the whole table (5.8 s at 1,000,000 articles, for a word one
article holds). So a search first looks only at the newest RECENT articles the caller may
see, one short index scan whatever the word; when they hold the page, that is the answer.
Otherwise the GIN index finds every match (few, since the newest RECENT held less than a
page of them) and the page is sorted out of those.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, Select, String, Text, and_, bindparam, func, literal_column, select

from article_service.db.statements import (
    AFTER_POSITION,
    VISIBLE_TO_VIEWER,
    Prepared,
    newest_first,
    with_author,
)
from article_service.db.tables import articles, authors
from article_service.models import Page, Selection

# How many of the newest visible articles a search reads before it asks the GIN index.
RECENT = 1000

_AUTHOR = articles.c.author_id == bindparam("author_id", type_=Integer)
# Whose articles: anyone's published ones (and the viewer's drafts, if there is a viewer,
# as in the plain listing); one author's published ones; all of one author's (their own
# drafts, asked for by the author).
WHOSE = {
    "published": articles.c.published,
    "viewer": VISIBLE_TO_VIEWER,
    "author": and_(_AUTHOR, articles.c.published),
    "author_all": _AUTHOR,
}
# websearch_to_tsquery never fails on what a user types (quotes, operators, punctuation),
# unlike to_tsquery; `simple` is the configuration the `search` column is made with.
_QUERY = func.websearch_to_tsquery(
    literal_column("'simple'::regconfig"), bindparam("q", type_=Text)
)
_SKIP, _LIMIT = bindparam("skip", type_=Integer), bindparam("limit", type_=Integer)


def _matches(search: Any) -> Any:
    return search.bool_op("@@")(_QUERY)


def _where(whose: str, keyset: bool) -> list[Any]:
    return [WHOSE[whose], AFTER_POSITION] if keyset else [WHOSE[whose]]


def _articles_of(page: Select[Any]) -> Prepared:
    """The articles (with their author's name) whose ids `page` selects, newest first."""
    ids = page.subquery("page")
    statement = with_author(articles).join(ids, ids.c.id == articles.c.id)
    return Prepared(statement.order_by(articles.c.created_at.desc(), articles.c.id.desc()))


def _recent_matches(whose: str, keyset: bool) -> Prepared:
    """The page among the newest $recent visible articles (an ordered index scan)."""
    recent = (
        select(articles.c.id, articles.c.created_at, articles.c.search)
        .where(*_where(whose, keyset))
        .order_by(articles.c.created_at.desc(), articles.c.id.desc())
        .limit(bindparam("recent", type_=Integer))
        .subquery("recent")
    )
    page = (
        select(recent.c.id)
        .where(_matches(recent.c.search))
        .order_by(recent.c.created_at.desc(), recent.c.id.desc())
        .offset(_SKIP)
        .limit(_LIMIT)
    )
    return _articles_of(page)


def _all_matches(whose: str, keyset: bool) -> Prepared:
    """The page among every match: MATERIALIZED keeps the ordered index scan out, so the
    matches come from the GIN index, then are sorted."""
    found = (
        select(articles.c.id, articles.c.created_at)
        .where(_matches(articles.c.search), *_where(whose, keyset))
        .cte("found")
        .prefix_with("MATERIALIZED")
    )
    page = (
        select(found.c.id)
        .order_by(found.c.created_at.desc(), found.c.id.desc())
        .offset(_SKIP)
        .limit(_LIMIT)
    )
    return _articles_of(page)


_KEYS = [(whose, keyset) for whose in WHOSE for keyset in (False, True)]
# (whose, page token or not) -> the statement(s), tried in order (see the docstring).
AUTHOR_LISTINGS = {key: newest_first(WHOSE[key[0]], keyset=key[1]) for key in _KEYS}
SEARCHES = {key: (_recent_matches(*key), _all_matches(*key)) for key in _KEYS}
# min(): one answer even if the feed has not yet told that an old holder of the name
# changed it (usernames are unique at the auth service, not in this copy of them).
AUTHOR_NAMED = Prepared(
    select(func.min(authors.c.user_id)).where(
        func.lower(authors.c.username) == func.lower(bindparam("username", type_=String))
    )
)


def selected_for(
    viewer: int | None, selection: Selection, page: Page
) -> list[tuple[Prepared, list[Any]]]:
    """The statements of a filtered listing with their arguments, to run in order: the
    first that returns a full page (page.limit rows) answers, else the last."""
    if selection.author_id is not None:
        whose = "author_all" if selection.drafts else "author"
    else:
        whose = "published" if viewer is None else "viewer"
    key = (whose, page.after is not None)
    queries = SEARCHES[key] if selection.q else (AUTHOR_LISTINGS[key],)
    after_created_at, after_id = page.after or (None, None)
    values = {
        "viewer": viewer,
        "author_id": selection.author_id,
        "q": selection.q,
        "recent": RECENT,
        "after_created_at": after_created_at,
        "after_id": after_id,
        "skip": page.skip,
        "limit": page.limit,
    }
    return [(query, query.args(**values)) for query in queries]
