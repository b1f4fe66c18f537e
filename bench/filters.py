"""The filtered listing rows at the large scale: full-text search (a word one article holds,
and one every article holds) and one author's articles, through the gateway, with their
query plans.

The seeded articles share one body, and each title is "Article <index>": the index is the
rare word (its number, a lexeme of its own), "benchmark" the common one. The two searches
take different paths, both newest first: the common one is answered from the newest 1,000
articles (a backward walk of the (created_at, id) index); the rare one is not, so the GIN
index finds its match next.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from article_service.db.filtered import AUTHOR_LISTINGS, RECENT, SEARCHES
from bench.targets import ARTICLES_RPC, Target, scale_label

if TYPE_CHECKING:
    from bench import seed
    from bench.environment import Environment

COMMON_WORD = "benchmark"  # in seed.CONTENT, so in every seeded article
LIMIT = 20


def rare_word(ours: seed.Seeded) -> str:
    """The title number of the article halfway down the listing: one match."""
    return str(ours.count // 2)


def targets(env: Environment, ours: seed.Seeded) -> list[Target]:
    """The filter rows at the scale `ours` now holds, each a GET /articles through Envoy."""
    label = scale_label(ours.count)
    listing = f"{env.gateway_url}/articles/?limit={LIMIT}"
    # Named like the plain list row, so `--only "REST GET /articles/?"` runs them together.
    rows = {
        f"REST GET /articles/?q=, 1 match @{label}": f"&q={rare_word(ours)}",
        f"REST GET /articles/?q=, every article @{label}": f"&q={COMMON_WORD}",
        f"REST GET /articles/?author_id= @{label}": f"&author_id={ours.user_ids[0]}",
    }
    return [
        Target(name, "ours REST", listing + query, http1=True, rpc=ARTICLES_RPC + "ListArticles")
        for name, query in rows.items()
    ]


def plans(ours: seed.Seeded) -> dict[str, tuple[str, list[Any]]]:
    """The filter rows' statements as the service runs them (a first page, one row more
    than shown), for EXPLAIN ANALYZE: a search reads the newest articles first, and asks
    the GIN index only when they hold less than a page (article_service.db.filtered)."""
    recent, every = SEARCHES["published", False]
    author = AUTHOR_LISTINGS["author", False]
    page = {"skip": 0, "limit": LIMIT + 1, "recent": RECENT}
    rare, common = {**page, "q": rare_word(ours)}, {**page, "q": COMMON_WORD}
    return {
        "ours, search for a word one article holds: the newest articles": (
            recent.sql,
            recent.args(**rare),
        ),
        "ours, search for a word one article holds: then the GIN index": (
            every.sql,
            every.args(**rare),
        ),
        "ours, search for a word every article holds (the newest articles suffice)": (
            recent.sql,
            recent.args(**common),
        ),
        "ours, one author's articles": (
            author.sql,
            author.args(author_id=ours.user_ids[0], **page),
        ),
    }
