"""The listing use case (ListArticles): one page of what a caller may see, the plain
listing or narrowed by filters (author, drafts, search), and the token of the next page.

Like operations: no gRPC and no SQL; the reader (operations.ArticleReader) is a parameter,
and the caller's user id is None for an anonymous reader.
"""

from __future__ import annotations

from dataclasses import dataclass

from article_service.errors import NotAuthenticatedError, NotAuthorError
from article_service.models import NO_FILTER, Article, ListFilter, Page, Selection, page_of
from article_service.operations import ArticleReader
from article_service.page_tokens import encode_page_token


@dataclass(frozen=True, slots=True)
class Listing:
    articles: list[Article]
    # Where the next page starts; "" when this page is the last.
    next_page_token: str


async def list_page(
    reader: ArticleReader,
    caller: int | None,
    skip: int,
    limit: int | None,
    page_token: str = "",
    wanted: ListFilter = NO_FILTER,
) -> Listing:
    """One page of what `caller` may see, narrowed to `wanted`, newest first, and the token
    of the next page.

    One row more than asked is read, so the last page says so (no token) and a client never
    asks for an empty page after it.
    """
    page = page_of(skip, limit, page_token, wanted)
    peek = Page(skip=page.skip, limit=page.limit + 1, after=page.after)
    if wanted.is_empty():
        found = await reader.list_visible(caller, peek)
    else:
        selection = await _selection(reader, caller, wanted)
        found = [] if selection is None else await reader.list_selected(caller, selection, peek)
    if len(found) <= page.limit:
        return Listing(found, "")
    shown = found[: page.limit]
    last = shown[-1]
    filters = "" if wanted.is_empty() else wanted.fingerprint()
    return Listing(shown, encode_page_token(last.created_at, last.id, filters))


async def _selection(
    reader: ArticleReader, caller: int | None, wanted: ListFilter
) -> Selection | None:
    """What the filters select, or None when they select nothing (an unknown username).

    Drafts are only ever the caller's own: without a token that is UNAUTHENTICATED, and
    an author filter naming someone else PERMISSION_DENIED.
    """
    if wanted.drafts and caller is None:
        raise NotAuthenticatedError("drafts without a token")
    author_id = wanted.author_id
    if wanted.author:
        author_id = await reader.author_named(wanted.author)
        if author_id is None:
            return None
    if wanted.drafts:
        if author_id is not None and author_id != caller:
            raise NotAuthorError("Only the author may list their drafts")
        author_id = caller
    return Selection(author_id=author_id, drafts=wanted.drafts, q=wanted.q)
