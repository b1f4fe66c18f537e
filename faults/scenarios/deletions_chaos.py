"""deletions-chaos: account deletions while the article service (and once auth) are killed
at random, whole or one worker. After recovery: no article of a deleted user, deletions
recorded, their tokens refused, survivors lose nothing, the feed catches up."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace

from blog.auth.v1 import auth_pb2

from faults import clients as cl
from faults.context import RNG, Ctx, Result, check_recovery, in_thread, result_of, sleep_until
from faults.history import History, Outcome, SetCheck, Write, check_set
from faults.scenarios.common import crash

NAME = "deletions-chaos"


@dataclass
class Chaos:
    """Writers, deleters and the killer, and every write and deletion they made."""

    ctx: Ctx
    history: History
    writes: list[Write] = field(default_factory=list)
    author: dict[str, int] = field(default_factory=dict)  # request_id -> user id
    deletions: list[Write] = field(default_factory=list)
    deleted_ack: set[int] = field(default_factory=set)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def prefix(self) -> str:
        return self.ctx.prefix(NAME)

    async def writer(self, user: cl.User, index: int) -> None:
        number = 0
        while not self.stop.is_set():
            write = Write(str(uuid.uuid4()))
            self.writes.append(write)
            self.author[write.key] = user.id
            await cl.create_with_retries(
                self.ctx.clients,
                self.history,
                user,
                write,
                f"{self.prefix}{user.id}-{number}",
                via="http" if index % 3 == 2 else "grpc",
                deadline=2.0,
                retry_until=time.monotonic() + 8.0,
                stub=index + number,
            )
            if write.outcome is Outcome.FAILED and user.id in self.deleted_ack:
                return  # refused for good: this user is gone
            number += 1
            await asyncio.sleep(0.05)

    async def delete(self, user: cl.User, at: float) -> None:
        """DeleteCurrentUser at `at`, retried while indeterminate (up to 20 s); after an
        indeterminate attempt, UNAUTHENTICATED means an earlier one landed."""
        await sleep_until(at)
        write = Write(str(user.id))
        self.deletions.append(write)
        until = time.monotonic() + 20.0
        while True:
            attempt, _ = await cl.rpc(
                self.history,
                "delete-user",
                self.ctx.clients.auth_at(len(write.attempts)).DeleteCurrentUser,
                auth_pb2.DeleteCurrentUserRequest(),
                metadata=user.metadata,
                timeout=3.0,
            )
            landed_before = attempt.code == "UNAUTHENTICATED" and any(
                a.outcome is Outcome.INDETERMINATE for a in write.attempts
            )
            if landed_before:
                attempt = replace(attempt, outcome=Outcome.INDETERMINATE)
            write.attempts.append(attempt)
            if attempt.outcome is Outcome.OK:
                self.deleted_ack.add(user.id)
            if attempt.outcome is not Outcome.INDETERMINATE or time.monotonic() > until:
                return
            if landed_before:
                return
            await asyncio.sleep(0.3)

    async def kill(self, seconds: float) -> None:
        """Kill the article service (whole, or one worker) at random for `seconds`; in a
        full run the third kill is of the auth service."""
        end = time.monotonic() + seconds
        k = 0
        while time.monotonic() < end:
            await asyncio.sleep(RNG.uniform(0.3, 1.2))
            if not self.ctx.quick and k == 2:
                await crash(self.ctx.auth, self.history, "all")
            else:
                await crash(self.ctx.articles, self.history, "all" if k % 2 == 0 else "one worker")
            k += 1


async def run(ctx: Ctx) -> Result:
    started, history = time.monotonic(), History()
    doomed_n, survivors_n = (4, 2) if ctx.quick else (8, 3)
    users = await cl.register_users(ctx.clients, history, f"dc{ctx.tag}u", doomed_n + survivors_n)
    doomed = users[:doomed_n]
    chaos_seconds = ctx.t(5.0, 14.0)
    chaos = Chaos(ctx, history)
    # Some articles exist before the chaos starts.
    tasks = [asyncio.create_task(chaos.writer(u, i)) for i, u in enumerate(users)]
    await asyncio.sleep(1.0)
    begin = time.monotonic()
    tasks += [
        asyncio.create_task(chaos.delete(u, begin + RNG.uniform(0, chaos_seconds))) for u in doomed
    ]
    await chaos.kill(chaos_seconds)
    chaos.stop.set()
    await asyncio.gather(*tasks)
    await in_thread(ctx.cluster.ensure_healthy)
    caught_up = await ctx.truth.feed_caught_up(within=30.0)
    gone, checks = await _set_checks(chaos, users, doomed_n)
    result = result_of(NAME, history, started, *checks)
    if caught_up is None:
        result.violations.append("the article service's feed did not catch up within 30 s")
    await _check_cleaned_up(ctx, result, gone)
    await _check_tokens_refused(chaos, result, [u for u in doomed if u.id in gone])
    check_recovery(result, history, ["create", "delete-user", "setup-login"])
    result.notes.append(
        f"{len(gone)}/{len(doomed)} users deleted, {len(history.heals)} kills, feed caught up "
        + ("never" if caught_up is None else f"{caught_up:.1f} s after")
    )
    return result


async def _set_checks(
    chaos: Chaos, users: list[cl.User], doomed_n: int
) -> tuple[list[int], list[SetCheck]]:
    """The deleted users (the first `doomed_n` that are gone), and the set checks: of the
    deletions (no survivor deleted) and of the living users' articles (none of the dead)."""
    truth = chaos.ctx.truth
    present = await truth.users_by_id([u.id for u in users])
    gone = [u.id for u in users[:doomed_n] if u.id not in present]
    deletion_check = check_set(chaos.deletions, Counter(str(uid) for uid in gone))
    for user in users[doomed_n:]:
        if user.id not in present:
            deletion_check.unexpected.append(f"survivor {user.id} was deleted")
    living_writes = [w for w in chaos.writes if chaos.author[w.key] in present]
    rows = await truth.articles(chaos.prefix)
    living_rows = Counter(
        r.request_id or f"row {r.id}" for r in rows if r.author_id not in set(gone)
    )
    article_check = check_set(living_writes, living_rows)
    for uid, count in (await truth.articles_of(gone)).items():
        article_check.unexpected.append(f"{count} article(s) of deleted user {uid}")
    return gone, [deletion_check, article_check]


async def _check_cleaned_up(ctx: Ctx, result: Result, gone: list[int]) -> None:
    """The article service recorded every deletion and forgot the author."""
    recorded = await ctx.truth.deleted_recorded(gone)
    authors_left = await ctx.truth.authors(gone)
    for uid in gone:
        if uid not in recorded:
            result.violations.append(f"deleted user {uid} not in articles.deleted_users")
        if uid in authors_left:
            result.violations.append(f"deleted user {uid} still in articles.authors")


async def _check_tokens_refused(chaos: Chaos, result: Result, deleted: list[cl.User]) -> None:
    """A deleted user's token is refused by every worker."""
    for i, user in enumerate(deleted):
        attempt = await cl.create_once(
            chaos.ctx.clients,
            chaos.history,
            user,
            Write(str(uuid.uuid4())),
            f"{chaos.prefix}after-{user.id}",
            via="grpc",
            deadline=3.0,
            stub=i,
        )
        if attempt.code != "UNAUTHENTICATED":
            result.violations.append(f"deleted user {user.id}'s token answered {attempt.code}")
