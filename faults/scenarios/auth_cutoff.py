"""auth-cutoff: the article service cut off from the auth service.

Decided behaviour, while the auth service is unreachable:
- a worker that already holds the signing keys keeps verifying tokens locally: every
  write with a valid token succeeds, and reads too;
- a token with a kid nobody published answers UNAUTHENTICATED or UNAVAILABLE, never OK;
- a worker started during the cut has no keys: a valid token answers UNAVAILABLE (503),
  never UNAUTHENTICATED (the client's token is fine; it must not be thrown away);
- once auth is back, writes succeed again within a few seconds.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from faults import clients as cl
from faults.context import Ctx, Result, check_recovery, in_thread, result_of
from faults.history import Attempt, History, Outcome, Write
from faults.loads import WriteLoad, check_articles

NAME = "auth-cutoff"


def forged_token(kid: str = "forged-kid") -> str:
    """A well-formed access token signed by a key nobody published."""
    now = datetime.now(UTC)
    claims = {
        "sub": "1",
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "iss": "blog-auth",
        "aud": "blog",
        "jti": str(uuid.uuid4()),
    }
    key = Ed25519PrivateKey.generate()
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid, "typ": "at+jwt"})


@dataclass
class Cutoff:
    """The scenario's state across its phases: every write, and a timeline of marks."""

    ctx: Ctx
    started: float = field(default_factory=time.monotonic)
    history: History = field(default_factory=History)
    writes: list[Write] = field(default_factory=list)
    marks: list[tuple[str, float]] = field(default_factory=list)
    cut_load: int = 0  # writes of the load while auth was down

    @property
    def prefix(self) -> str:
        return self.ctx.prefix(NAME)

    def mark(self, label: str) -> float:
        now = time.monotonic()
        self.marks.append((label, now))
        return now

    async def once(self, user: cl.User, label: str, i: int, via: str = "grpc") -> Attempt:
        write = Write(str(uuid.uuid4()))
        self.writes.append(write)
        title = f"{self.prefix}{label}-{i}"
        return await cl.create_once(
            self.ctx.clients, self.history, user, write, title, via=via, deadline=3.0, stub=i
        )

    async def warm(self) -> None:
        """Every worker's key cache warm (the worker ports reach each worker)."""
        for i in range(2 * len(self.ctx.clients.articles_stubs)):
            write = Write(str(uuid.uuid4()))
            self.writes.append(write)
            await cl.create_with_retries(
                self.ctx.clients,
                self.history,
                self.ctx.writers[0],
                write,
                f"{self.prefix}warm-{i}",
                via="grpc",
                deadline=5.0,
                retry_until=time.monotonic() + 20,
                stub=i,
            )

    async def cut(self) -> tuple[list[Attempt], list[Attempt]]:
        """Auth killed, load with cached keys and a forged token; (forged answers, valid
        writes refused meanwhile)."""
        ctx = self.ctx
        self.history.mark_fault()
        await in_thread(ctx.auth.kill9)
        cut_at = self.mark("cut")
        forged = cl.User(1, "forged", "forged@faults.example", forged_token())
        answers: list[Attempt] = []
        async with WriteLoad(ctx, self.history, self.prefix, ctx.writers, writers=4) as load:
            for i in range(2):
                answers.append(await self.once(forged, "forged", i, "http" if i % 2 else "grpc"))
                await asyncio.sleep(ctx.t(0.5, 2.0))
        self.writes += load.writes
        self.cut_load = len(load.writes)
        ended = self.mark("cut-load")
        refused = [
            a
            for a in self.history.attempts
            if a.kind == "create"
            and cut_at <= a.started < ended
            and a.outcome is not Outcome.OK
            and a not in answers
        ]
        return answers, refused

    async def fresh_worker(self) -> list[Attempt]:
        """A fresh article service while auth is still away: it has no keys yet."""
        ctx = self.ctx
        await in_thread(ctx.articles.kill9)
        await in_thread(ctx.articles.start)
        self.mark("restarted")
        writers = ctx.writers
        fresh = [
            await self.once(writers[i % len(writers)], "fresh", i, "http" if i % 3 == 2 else "grpc")
            for i in range(4)
        ]
        self.mark("fresh")
        return fresh

    async def auth_back(self) -> None:
        ctx, prefix = self.ctx, self.prefix + "after "
        async with WriteLoad(ctx, self.history, prefix, ctx.writers, writers=4) as load:
            await asyncio.sleep(0.5)
            await in_thread(ctx.auth.start, wait=False)
            self.history.mark_healed()
            await in_thread(ctx.auth.wait_serving, 60.0)
            self.mark("auth back")
            await asyncio.sleep(ctx.t(4.0, 7.0))
        self.writes += load.writes
        self.mark("end")


async def run(ctx: Ctx) -> Result:
    cutoff = Cutoff(ctx)
    await cutoff.warm()
    forged, refused = await cutoff.cut()
    fresh = await cutoff.fresh_worker()
    await cutoff.auth_back()
    check = await check_articles(ctx, cutoff.history, cutoff.prefix, cutoff.writes)
    result = result_of(NAME, cutoff.history, cutoff.started, check)
    for attempt in forged:
        if attempt.code not in ("UNAUTHENTICATED", "UNAVAILABLE", "HTTP 401", "HTTP 503"):
            result.violations.append(f"a token with an unknown kid answered {attempt.code}")
    for attempt in refused:
        result.violations.append(f"a valid token was refused while auth was down: {attempt.code}")
    for attempt in fresh:
        if attempt.code not in ("UNAVAILABLE", "HTTP 503"):
            result.violations.append(
                "a restarted worker without keys answered a valid token with "
                f"{attempt.code} (UNAVAILABLE / 503 expected)"
            )
    check_recovery(result, cutoff.history, ["create"])
    result.notes.append(
        f"auth down: {cutoff.cut_load} writes with cached keys, {len(refused)} refused; "
        f"unknown kid: {dict(Counter(a.code for a in forged))}; restarted worker "
        f"without keys: {dict(Counter(a.code for a in fresh))}; timeline "
        + ", ".join(f"{label} {at - cutoff.started:.1f}" for label, at in cutoff.marks)
    )
    return result
