"""pg-freeze: SIGSTOP of the postmaster and every backend for longer than every deadline,
under load, then SIGCONT. Calls with a 30 s deadline must be answered (UNAVAILABLE) within
PROMPT_ANSWER_SECONDS, none OK while frozen; health must answer within 1 s and say
NOT_SERVING meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from blog.articles.v1 import articles_pb2
from blog.auth.v1 import auth_pb2
from google.protobuf.message import Message

from devstack import probe
from faults import clients as cl
from faults.context import Ctx, Result, check_recovery, in_thread, result_of
from faults.history import Attempt, History, Outcome
from faults.loads import WriteLoad, check_articles, one_article

NAME = "pg-freeze"
# A request must be answered within this, even with the database frozen: the pool wait (2 s),
# a connect attempt (5 s) and one statement (5 s) are each bounded below it.
PROMPT_ANSWER_SECONDS = 12.0


@dataclass
class Watchers:
    """Long-deadline calls and health checks that run through the freeze."""

    ctx: Ctx
    history: History
    article: int  # an article the readers fetch
    window: list[float] = field(default_factory=list)  # [frozen at, thawed at]
    health_seen: Counter[str] = field(default_factory=Counter)  # statuses while frozen
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self) -> list[asyncio.Task[None]]:
        kinds = ("probe-get", "probe-list", "probe-login")
        tasks = [asyncio.create_task(self.patient(kind, n)) for kind in kinds for n in range(2)]
        return [*tasks, asyncio.create_task(self.health())]

    async def patient(self, kind: str, n: int) -> None:
        """Calls with a long deadline (30 s): the server itself must answer them promptly."""
        clients, user = self.ctx.clients, self.ctx.writers[0]
        while not self.stop.is_set():
            method: Callable[..., Awaitable[Any]]
            request: Message
            if kind == "probe-get":
                method = clients.articles_at(n).GetArticle
                request = articles_pb2.GetArticleRequest(id=self.article)
            elif kind == "probe-list":
                method = clients.articles_at(n).ListArticles
                request = articles_pb2.ListArticlesRequest(limit=5)
            else:
                method = clients.auth_at(n).Login
                request = auth_pb2.LoginRequest(username=user.username, password=cl.PASSWORD)
            await cl.rpc(self.history, kind, method, request, timeout=30)
            n += 1
            await asyncio.sleep(0.3)

    async def health(self) -> None:
        targets = [self.ctx.auth.target, self.ctx.articles.target]
        while not self.stop.is_set():
            for target in targets:
                status = await in_thread(probe.status, target, 1.0)
                if len(self.window) == 1:
                    self.health_seen[status] += 1
                if status not in ("SERVING", "NOT_SERVING"):
                    self.history.violate(f"health of {target} did not answer within 1 s: {status}")
            await asyncio.sleep(0.25)


async def run(ctx: Ctx) -> Result:
    """SIGSTOP PostgreSQL for longer than every deadline, under load; then SIGCONT."""
    started, history = time.monotonic(), History()
    prefix = ctx.prefix(NAME)
    db = ctx.cluster.db
    assert db is not None
    freeze_seconds = ctx.t(7.0, 9.0)
    watchers = Watchers(ctx, history, await one_article(ctx, history, ctx.prefix(f"{NAME}-probe")))
    tasks = watchers.start()
    try:
        async with WriteLoad(ctx, history, prefix, ctx.writers, writers=6, deadline=2.0) as load:
            await asyncio.sleep(ctx.t(1.0, 2.0))
            history.mark_fault()
            watchers.window.append(time.monotonic())
            await in_thread(db.freeze)
            try:
                await asyncio.sleep(freeze_seconds)
            finally:
                await in_thread(db.thaw)
            watchers.window.append(time.monotonic())
            history.mark_healed()
            await asyncio.sleep(ctx.t(4.0, 6.0))
    finally:
        watchers.stop.set()
        await asyncio.gather(*tasks)
    check = await check_articles(ctx, history, prefix, load.writes)
    result = result_of(NAME, history, started, check)
    check_recovery(result, history, ["create"])
    _judge(result, watchers, freeze_seconds)
    return result


def _judge(result: Result, watchers: Watchers, freeze_seconds: float) -> None:
    """Every probe waiting at some point of the freeze answered promptly, none OK while
    frozen; health said NOT_SERVING meanwhile."""
    frozen_at, thawed_at = watchers.window
    frozen = [
        a
        for a in watchers.history.attempts
        if a.kind.startswith("probe-") and a.started < thawed_at and a.ended > frozen_at
    ]
    for attempt in frozen:
        if attempt.latency > PROMPT_ANSWER_SECONDS:
            result.violations.append(
                f"{attempt.kind} answered after {attempt.latency:.1f} s ({attempt.code})"
            )
        elif (
            attempt.outcome is Outcome.OK
            and frozen_at + 0.5 < attempt.started < attempt.ended < thawed_at
        ):
            result.violations.append(f"{attempt.kind} answered OK with the database frozen")
    worst: dict[str, Attempt] = {}
    for attempt in frozen:
        if attempt.kind not in worst or attempt.latency > worst[attempt.kind].latency:
            worst[attempt.kind] = attempt
    slowest = max((a.latency for a in frozen), default=0.0)
    slowest_by_kind = ", ".join(
        f"{kind[6:]} {a.latency:.1f} s ({a.code})" for kind, a in sorted(worst.items())
    )
    result.notes.append(
        f"frozen {freeze_seconds:.0f} s; long-deadline (30 s) calls waiting during it answered "
        f"{dict(Counter(a.code for a in frozen))}, slowest {slowest:.1f} s: {slowest_by_kind}; "
        f"health checks during it: {dict(watchers.health_seen)}"
    )
    if not watchers.health_seen.get("NOT_SERVING"):
        result.violations.append("health never reported NOT_SERVING while the database was frozen")
