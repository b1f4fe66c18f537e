"""etag-race: parallel updates of one article with one etag (gRPC and HTTP). Exactly one
wins each round, the rest answer ABORTED / 409, and the version goes up by one."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from blog.articles.v1 import articles_pb2

from faults import clients as cl
from faults.context import Ctx, Result, result_of
from faults.history import Attempt, History, Outcome, SetCheck, Write, check_set
from faults.loads import one_article

NAME = "etag-race"


async def _update(
    ctx: Ctx, history: History, article_id: int, title: str, etag: str, i: int
) -> Attempt:
    """Update `article_id` with `etag`: every other one through the gateway."""
    user = ctx.writers[0]
    if i % 2 and ctx.clients.http is not None:
        attempt, _ = await cl.http(
            history,
            ctx.clients.http,
            "update",
            "PATCH",
            f"/articles/{article_id}",
            json={"title": title, "etag": etag},
            headers=user.headers,
            timeout=10.0,
        )
        return attempt
    request = articles_pb2.UpdateArticleRequest(id=article_id, title=title, etag=etag)
    stub = ctx.clients.articles_at(i)
    attempt, _ = await cl.rpc(
        history, "update", stub.UpdateArticle, request, metadata=user.metadata, timeout=10.0
    )
    return attempt


async def _round(ctx: Ctx, history: History, r: int, parallel: int) -> tuple[int, SetCheck]:
    """One article updated `parallel` times at once with its etag; (winners, set check)."""
    prefix = ctx.prefix(NAME)
    article_id = await one_article(ctx, history, f"{prefix}{r} ")
    row = await ctx.truth.article(article_id)
    assert row is not None
    etag = f"{article_id}.{row.version}"
    titles = [f"{prefix}{r} winner-{i}" for i in range(parallel)]
    outcomes = await asyncio.gather(
        *(_update(ctx, history, article_id, titles[i], etag, i) for i in range(parallel))
    )
    oks = [i for i, a in enumerate(outcomes) if a.outcome is Outcome.OK]
    losers = {a.code for a in outcomes if a.outcome is not Outcome.OK}
    if len(oks) != 1:
        history.violate(f"round {r}: {len(oks)} updates with one etag succeeded")
    if losers - {"ABORTED", "HTTP 409"}:
        history.violate(f"round {r}: losers answered {sorted(losers)}")
    after = await ctx.truth.article(article_id)
    assert after is not None
    if after.version != row.version + 1:
        history.violate(f"round {r}: version {row.version} -> {after.version}")
    writes = [Write(titles[i], [a]) for i, a in enumerate(outcomes)]
    return len(oks), check_set(writes, Counter([after.title]))


async def run(ctx: Ctx) -> Result:
    started, history = time.monotonic(), History()
    rounds, parallel = (4, 6) if ctx.quick else (15, 8)
    acknowledged = 0
    checks: list[SetCheck] = []
    for r in range(rounds):
        won, check = await _round(ctx, history, r, parallel)
        acknowledged += won
        checks.append(check)
    result = result_of(NAME, history, started, *checks)
    result.notes.append(f"{rounds} rounds of {parallel} parallel updates, {acknowledged} won")
    return result
