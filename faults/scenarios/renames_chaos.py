"""renames-chaos: users rename themselves again and again while the article service is
killed -9 at random, whole or one worker, and they keep writing. After recovery every
article's author_username, as the article service answers it, is its author's final name
(as the auth service answers it), and no acknowledged article was lost."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from blog.articles.v1 import articles_pb2
from blog.auth.v1 import auth_pb2

from faults import clients as cl
from faults.context import RNG, Ctx, Result, check_recovery, in_thread, result_of
from faults.history import History, Outcome, Write, check_set
from faults.scenarios.common import crash

NAME = "renames-chaos"


@dataclass
class Renames:
    """Renamers (who also write) and the killer, and every write they made."""

    ctx: Ctx
    history: History
    writes: list[Write] = field(default_factory=list)
    renames: Counter[int] = field(default_factory=Counter)  # user id -> acknowledged renames
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def prefix(self) -> str:
        return self.ctx.prefix(NAME)

    async def renamer(self, user: cl.User, index: int) -> None:
        """Rename `user` every ~0.1 s (each name new) and write an article every third time."""
        number = 0
        while not self.stop.is_set():
            request = auth_pb2.UpdateCurrentUserRequest(
                username=f"rn{self.ctx.tag}{index}x{number}"
            )
            attempt, _ = await cl.rpc(
                self.history,
                "rename",
                self.ctx.clients.auth_at(index + number).UpdateCurrentUser,
                request,
                metadata=user.metadata,
                timeout=3.0,
            )
            self.renames[user.id] += attempt.outcome is Outcome.OK
            if number % 3 == 0:
                await self._write(user, index, number)
            number += 1
            await asyncio.sleep(RNG.uniform(0.05, 0.15))

    async def _write(self, user: cl.User, index: int, number: int) -> None:
        write = Write(str(uuid.uuid4()))
        self.writes.append(write)
        await cl.create_with_retries(
            self.ctx.clients,
            self.history,
            user,
            write,
            f"{self.prefix}{user.id}-{number}",
            via="http" if index % 2 else "grpc",
            deadline=2.0,
            retry_until=time.monotonic() + 8.0,
            stub=index + number,
        )

    async def kill(self, seconds: float) -> None:
        """kill -9 the article service, whole or one worker in turn, for `seconds`."""
        end, k = time.monotonic() + seconds, 0
        while time.monotonic() < end:
            await asyncio.sleep(RNG.uniform(0.3, 1.2))
            await crash(self.ctx.articles, self.history, "all" if k % 2 == 0 else "one worker")
            k += 1


async def run(ctx: Ctx) -> Result:
    started, history = time.monotonic(), History()
    users = await cl.register_users(ctx.clients, history, f"rc{ctx.tag}u", 3 if ctx.quick else 6)
    chaos = Renames(ctx, history)
    tasks = [asyncio.create_task(chaos.renamer(u, i)) for i, u in enumerate(users)]
    await chaos.kill(ctx.t(5.0, 14.0))
    chaos.stop.set()
    await asyncio.gather(*tasks)
    await in_thread(ctx.cluster.ensure_healthy)
    caught_up = await ctx.truth.feed_caught_up(within=30.0)
    rows = await ctx.truth.articles(chaos.prefix)
    found = Counter(r.request_id or f"row {r.id}" for r in rows)
    result = result_of(NAME, history, started, check_set(chaos.writes, found))
    if caught_up is None:
        result.violations.append("the article service's feed did not catch up within 30 s")
    await _check_final_names(chaos, result, users, {r.id: r.author_id for r in rows})
    check_recovery(result, history, ["create"])
    result.notes.append(
        f"{sum(chaos.renames.values())} renames of {len(users)} users, {len(rows)} articles, "
        f"{len(history.heals)} kills, feed caught up "
        + ("never" if caught_up is None else f"{caught_up:.1f} s after")
    )
    return result


async def _check_final_names(
    chaos: Renames, result: Result, users: list[cl.User], authors: dict[int, int]
) -> None:
    """Every article answers its author's final name, as the auth service has it now."""
    clients, history = chaos.ctx.clients, chaos.history
    final: dict[int, str] = {}
    for user in users:
        _, me = await cl.rpc(
            history,
            "setup-me",
            clients.auth_at(0).GetCurrentUser,
            auth_pb2.GetCurrentUserRequest(),
            metadata=user.metadata,
            timeout=5.0,
        )
        if me is None:
            result.violations.append(f"user {user.id}: GetCurrentUser failed afterwards")
            continue
        final[user.id] = me.username
    for article_id, author_id in sorted(authors.items()):
        _, article = await cl.rpc(
            history,
            "setup-get",
            clients.articles_at(article_id).GetArticle,
            articles_pb2.GetArticleRequest(id=article_id),
            timeout=5.0,
        )
        name = None if article is None else article.author_username
        if author_id in final and name != final[author_id]:
            result.violations.append(
                f"article {article_id}: author_username {name!r}, final name {final[author_id]!r}"
            )
