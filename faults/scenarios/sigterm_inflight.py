"""sigterm-inflight: SIGTERM with calls in flight (creates held by a briefly frozen
database; logins in bcrypt). Every call in flight must finish OK, later calls be refused,
health (Watch) say NOT_SERVING within 1 s, and the service exit 0 within its grace."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import grpc
from blog.auth.v1 import auth_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from faults import clients as cl
from faults.cluster import Service
from faults.context import Ctx, Result, check_recovery, in_thread, result_of
from faults.history import History, Outcome, Write
from faults.loads import check_articles, one_article

NAME = "sigterm-inflight"
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@dataclass
class Phase:
    """One service's SIGTERM: the calls in flight at it and after it, and what followed."""

    service: str
    inflight: list[Write] = field(default_factory=list)
    late: list[Write] = field(default_factory=list)
    seen: list[list[tuple[float, str]]] = field(default_factory=list)  # per worker's Watch
    term_at: float = 0.0
    code: int | None = None
    exit_after: float = 0.0

    def problems(self) -> list[str]:
        return _sigterm_checks(
            self.service, self.inflight, self.late, self.seen, self.term_at, self.code
        )


async def run(ctx: Ctx) -> Result:
    started, history = time.monotonic(), History()
    prefix = ctx.prefix(NAME)
    articles = await _articles_phase(ctx, history, prefix)
    await one_article(ctx, history, ctx.prefix(NAME + "-after"))
    # Auth: logins held in flight by bcrypt. Its health probe saw the freeze above too:
    # start from SERVING, or the watch ends on a NOT_SERVING from before the SIGTERM.
    await in_thread(ctx.auth.wait_serving, 30.0)
    auth = await _auth_phase(ctx, history)
    check = await check_articles(ctx, history, prefix, [*articles.inflight, *articles.late])
    result = result_of(NAME, history, started, check)
    result.violations.extend(articles.problems() + auth.problems())
    result.acknowledged += sum(w.outcome is Outcome.OK for w in auth.inflight)
    check_recovery(result, history, ["create", "login"])
    result.notes.append(
        f"articles: {len(articles.inflight)} in flight, exit {articles.code} after "
        f"{articles.exit_after:.1f} s; auth: {len(auth.inflight)} logins in flight, "
        f"exit {auth.code} after {auth.exit_after:.1f} s"
    )
    return result


async def _articles_phase(ctx: Ctx, history: History, prefix: str) -> Phase:
    """Creates held in flight by a briefly frozen database, SIGTERM, creates after it."""
    db = ctx.cluster.db
    assert db is not None
    phase = Phase("articles")
    watches = [asyncio.create_task(_watch_health(t)) for t in ctx.articles.worker_targets]
    await asyncio.sleep(0.3)
    history.mark_fault()
    await in_thread(db.freeze)
    try:
        held = [
            asyncio.create_task(_create(ctx, history, phase.inflight, f"{prefix}inflight-{i}", i))
            for i in range(8)
        ]
        await asyncio.sleep(0.5)
        phase.term_at = time.monotonic()
        ctx.articles.sigterm()
        await asyncio.sleep(0.3)
        for i in range(4):
            await _create(ctx, history, phase.late, f"{prefix}late-{i}", i, deadline=2.0, user=0)
        await asyncio.sleep(0.7)
    finally:
        await in_thread(db.thaw)
    await asyncio.gather(*held)
    await _exit_and_restart(ctx.articles, history, phase, watches)
    return phase


async def _create(
    ctx: Ctx,
    history: History,
    writes: list[Write],
    title: str,
    i: int,
    *,
    deadline: float = 20.0,
    user: int | None = None,
) -> None:
    write = Write(str(uuid.uuid4()))
    writes.append(write)
    author = ctx.writers[(i if user is None else user) % len(ctx.writers)]
    await cl.create_once(
        ctx.clients, history, author, write, title, via="grpc", deadline=deadline, stub=i
    )


async def _auth_phase(ctx: Ctx, history: History) -> Phase:
    """Logins held in flight (bcrypt), SIGTERM, logins after it; then one after the restart."""
    phase = Phase("auth")
    watches = [asyncio.create_task(_watch_health(t)) for t in ctx.auth.worker_targets]
    await asyncio.sleep(0.3)
    held = []
    for i in range(4):
        write = Write(f"login-{i}")
        phase.inflight.append(write)
        held.append(asyncio.create_task(_login(ctx, history, write, i, 20.0)))
    await asyncio.sleep(0.15)
    phase.term_at = time.monotonic()
    ctx.auth.sigterm()
    await asyncio.sleep(0.3)
    for i in range(3):
        write = Write(f"late-login-{i}")
        phase.late.append(write)
        await _login(ctx, history, write, i, 2.0)
    await asyncio.gather(*held)
    await _exit_and_restart(ctx.auth, history, phase, watches)
    for _ in range(20):
        after = Write("login-after-restart")
        await _login(ctx, history, after, 0, 5.0)
        if after.outcome is Outcome.OK:
            break
        await asyncio.sleep(0.5)
    return phase


async def _login(ctx: Ctx, history: History, write: Write, stub: int, deadline: float) -> None:
    user = ctx.writers[stub % len(ctx.writers)]
    attempt, _ = await cl.rpc(
        history,
        "login",
        ctx.clients.auth_at(stub).Login,
        auth_pb2.LoginRequest(username=user.username, password=cl.PASSWORD),
        timeout=deadline,
    )
    write.attempts.append(attempt)


async def _exit_and_restart(
    service: Service,
    history: History,
    phase: Phase,
    watches: list[asyncio.Task[list[tuple[float, str]]]],
) -> None:
    """Record how the SIGTERMed service exited and what its workers' health said; start it
    again and wait until it serves."""
    phase.code = await in_thread(service.wait_exit, 15.0)
    phase.exit_after = time.monotonic() - phase.term_at
    phase.seen = list(await asyncio.gather(*watches))
    await in_thread(service.start, wait=False)
    history.mark_healed()
    await in_thread(service.wait_serving, 60.0)


def _sigterm_checks(
    service: str,
    inflight: list[Write],
    late: list[Write],
    seen: list[list[tuple[float, str]]],
    term_at: float,
    code: int | None,
) -> list[str]:
    problems = []
    for write in inflight:
        if write.outcome is not Outcome.OK:
            codes = [a.code for a in write.attempts]
            problems.append(f"{service}: a call in flight at SIGTERM did not finish OK: {codes}")
    for write in late:
        if write.outcome is Outcome.OK:
            problems.append(f"{service}: a call sent after SIGTERM was served")
    for statuses in seen:
        flips = [at for at, status in statuses if status == "NOT_SERVING" and at >= term_at]
        if not flips:
            problems.append(f"{service}: health never said NOT_SERVING after SIGTERM {statuses}")
        elif flips[0] - term_at > 1.0:
            problems.append(f"{service}: NOT_SERVING only {flips[0] - term_at:.1f} s after SIGTERM")
    if code != 0:
        problems.append(f"{service}: exit code {code} after SIGTERM (0 expected, within the grace)")
    return problems


async def _watch_health(target: str, limit: float = 20.0) -> list[tuple[float, str]]:
    """Health.Watch on one worker: (time, status) until NOT_SERVING or the stream ends."""
    seen: list[tuple[float, str]] = []
    async with cl.channel(target) as channel:
        stub: Any = health_pb2_grpc.HealthStub(channel)  # typed as sync; aio at run time
        call = stub.Watch(health_pb2.HealthCheckRequest(), timeout=limit)
        try:
            async for reply in call:
                status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
                seen.append((time.monotonic(), status))
                if reply.status == NOT_SERVING:
                    break  # an open Watch would hold the graceful stop for its whole grace
        except grpc.aio.AioRpcError as exc:
            seen.append((time.monotonic(), exc.code().name))
        finally:
            call.cancel()
    return seen
