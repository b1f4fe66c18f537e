"""The scenarios: each inflicts one fault under load, then checks what every client was told
against what the database holds.

Every scenario leaves the stack healthy for the next (the runner checks that too), uses its
own title prefix / email domain, and returns a Result for the table.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import jwt
from blog.articles.v1 import articles_pb2
from blog.auth.v1 import auth_pb2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from grpc_health.v1 import health_pb2, health_pb2_grpc

from faults import clients as cl
from faults.cluster import Cluster, Service, health_status
from faults.history import Attempt, History, Outcome, SetCheck, Write, check_set
from faults.truth import Truth

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# A request must be answered within this, even with the database frozen: the pool wait (2 s),
# a connect attempt (5 s) and one statement (5 s) are each bounded below it.
PROMPT_ANSWER_SECONDS = 12.0
# After a fault heals, an acknowledged request within this.
RECOVERY_BOUND_SECONDS = 20.0
_RNG = random.Random()  # noqa: S311 - when to hurt what, not a secret


@dataclass
class Result:
    name: str
    requests: int = 0
    acknowledged: int = 0
    lost: int = 0
    unexpected: int = 0
    recovered: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    recovery_s: float | None = None
    seconds: float = 0.0
    violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.lost == 0 and self.unexpected == 0 and not self.violations


@dataclass
class Ctx:
    cluster: Cluster
    clients: cl.Clients
    truth: Truth
    quick: bool
    tag: str
    writers: list[cl.User]  # shared, warmed-up users for article writes

    @property
    def auth(self) -> Service:
        assert self.cluster.auth is not None
        return self.cluster.auth

    @property
    def articles(self) -> Service:
        assert self.cluster.articles is not None
        return self.cluster.articles

    def prefix(self, scenario: str) -> str:
        return f"fault {self.tag} {scenario} "

    def domain(self, scenario: str) -> str:
        return f"@{scenario}.{self.tag}.faults.example"

    def t(self, quick: float, full: float) -> float:
        return quick if self.quick else full


def _result(name: str, history: History, started: float, *checks: SetCheck) -> Result:
    measured = [a for a in history.attempts if not a.kind.startswith("setup-")]
    result = Result(
        name,
        requests=len(measured),
        codes=Counter(a.code for a in measured if a.outcome is not Outcome.OK),
        violations=list(history.violations),
    )
    for check in checks:
        result.acknowledged += check.acknowledged
        result.lost += len(check.lost)
        result.unexpected += len(check.unexpected)
        result.recovered += check.recovered
        if check.lost:
            result.violations.append(f"lost: {', '.join(check.lost[:5])}")
        if check.unexpected:
            result.violations.append(f"unexpected: {', '.join(check.unexpected[:5])}")
    result.seconds = round(time.monotonic() - started, 1)
    return result


def _recovery(result: Result, history: History, kinds: list[str]) -> None:
    took = history.recovery_seconds(kinds)
    if took is None:
        return
    if took == float("inf"):
        result.violations.append("no acknowledged request after the fault healed")
        return
    result.recovery_s = round(took, 2)
    if took > RECOVERY_BOUND_SECONDS:
        result.violations.append(f"recovery took {took:.1f} s (> {RECOVERY_BOUND_SECONDS:.0f} s)")


# --- article write load ---------------------------------------------------------------


class WriteLoad:
    """`writers` tasks creating articles until stopped, each a fresh request_id. Half of them
    retry an indeterminate create with the same request_id (up to `retry_seconds`), the
    other half try once; every third goes through the gateway."""

    def __init__(
        self,
        ctx: Ctx,
        history: History,
        prefix: str,
        users: list[cl.User],
        *,
        writers: int = 6,
        deadline: float = 2.0,
        retry_seconds: float = 15.0,
        think: float = 0.02,
    ) -> None:
        self.ctx, self.history, self.prefix, self.users = ctx, history, prefix, users
        self.writers, self.deadline, self.retry_seconds, self.think = (
            writers,
            deadline,
            retry_seconds,
            think,
        )
        self.writes: list[Write] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> WriteLoad:
        self._tasks = [asyncio.create_task(self._writer(i)) for i in range(self.writers)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _writer(self, index: int) -> None:
        user = self.users[index % len(self.users)]
        via = "http" if self.ctx.clients.http is not None and index % 3 == 2 else "grpc"
        retry = index % 2 == 0
        number = 0
        while not self._stop.is_set():
            write = Write(str(uuid.uuid4()))
            self.writes.append(write)
            until = time.monotonic() + (self.retry_seconds if retry else 0.0)
            await cl.create_with_retries(
                self.ctx.clients,
                self.history,
                user,
                write,
                f"{self.prefix}{index}-{number}",
                via=via,
                deadline=self.deadline,
                retry_until=until,
                stub=index + number,
            )
            number += 1
            await asyncio.sleep(self.think)


async def check_articles(ctx: Ctx, history: History, prefix: str, writes: list[Write]) -> SetCheck:
    rows = await ctx.truth.articles(prefix)
    found = Counter(r.request_id or f"row {r.id} without request_id" for r in rows)
    by_key = {r.request_id: r for r in rows}
    for write in writes:
        row = by_key.get(write.key)
        if write.outcome is Outcome.OK and row is not None and write.value != row.id:
            history.violate(f"request_id {write.key} acknowledged as {write.value}, row {row.id}")
    return check_set(writes, found)


# --- account load -----------------------------------------------------------------------


class AccountLoad:
    """Registrations (fresh emails, retried with the same request_id) and logins of existing
    users, until stopped."""

    def __init__(
        self,
        ctx: Ctx,
        history: History,
        scenario: str,
        *,
        registrars: int = 2,
        logins: int = 1,
        deadline: float = 5.0,
    ) -> None:
        self.ctx, self.history, self.scenario = ctx, history, scenario
        self.registrars, self.logins, self.deadline = registrars, logins, deadline
        self.writes: list[Write] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> AccountLoad:
        self._tasks = [asyncio.create_task(self._register(i)) for i in range(self.registrars)]
        self._tasks += [asyncio.create_task(self._login(i)) for i in range(self.logins)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _register(self, index: int) -> None:
        http_client = self.ctx.clients.http if index % 2 == 1 else None
        number = 0
        while not self._stop.is_set():
            short = "".join(part[0] for part in self.scenario.split("-"))
            name = f"{short}{self.ctx.tag}{index}x{number}"
            email = f"{name}{self.ctx.domain(self.scenario)}"
            write = Write(email.lower())
            self.writes.append(write)
            await register_with_retries(
                self.ctx.clients,
                self.history,
                write,
                email,
                name,
                http_client=http_client,
                deadline=self.deadline,
                retry_until=time.monotonic() + 15.0,
                stub=index + number,
            )
            number += 1

    async def _login(self, index: int) -> None:
        user = self.ctx.writers[index % len(self.ctx.writers)]
        number = 0
        while not self._stop.is_set():
            if self.ctx.clients.http is not None and index % 2 == 1:
                await cl.http(
                    self.history,
                    self.ctx.clients.http,
                    "login",
                    "POST",
                    "/auth/login",
                    data={"username": user.username, "password": cl.PASSWORD},
                    timeout=self.deadline,
                )
            else:
                stub = self.ctx.clients.auth_at(index + number)
                await cl.rpc(
                    self.history,
                    "login",
                    stub.Login,
                    auth_pb2.LoginRequest(username=user.username, password=cl.PASSWORD),
                    timeout=self.deadline,
                )
            number += 1
            await asyncio.sleep(0.3)


async def register_with_retries(
    clients: cl.Clients,
    history: History,
    write: Write,
    email: str,
    username: str,
    *,
    http_client: Any,
    deadline: float,
    retry_until: float,
    stub: int = 0,
) -> Attempt:
    """Register until acknowledged, refused or out of time. ALREADY_EXISTS after an
    indeterminate attempt means an earlier attempt landed: the write stays indeterminate."""
    request_id = str(uuid.uuid4())
    backoff = 0.1
    while True:
        if http_client is not None:
            body = {
                "email": email,
                "username": username,
                "password": cl.PASSWORD,
                "request_id": request_id,
            }
            attempt, _ = await cl.http(
                history,
                http_client,
                "register",
                "POST",
                "/auth/register",
                json=body,
                timeout=deadline,
            )
        else:
            request = cl.register_request(email, username, request_id)
            target = clients.auth_at(stub)
            attempt, _ = await cl.rpc(
                history, "register", target.Register, request, timeout=deadline
            )
        if attempt.code in ("ALREADY_EXISTS", "HTTP 409") and any(
            a.outcome is Outcome.INDETERMINATE for a in write.attempts
        ):
            attempt = replace(attempt, outcome=Outcome.INDETERMINATE)
        write.attempts.append(attempt)
        if attempt.outcome is not Outcome.INDETERMINATE or time.monotonic() >= retry_until:
            return attempt
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 0.5)


async def check_accounts(ctx: Ctx, scenario: str, writes: list[Write]) -> SetCheck:
    domain = ctx.domain(scenario)
    check = check_set(writes, await ctx.truth.users(domain))
    # The outbox: every account has its "created" event (written in the same transaction).
    missing = await ctx.truth.users_without_created_event(domain)
    check.lost.extend(f"created event of {email}" for email in missing)
    return check


async def sleep_until(when: float) -> None:
    await asyncio.sleep(max(0.0, when - time.monotonic()))


async def in_thread(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(function, *args, **kwargs)


# --- 1. kill -9 of the article service ---------------------------------------------------


async def article_kill9(ctx: Ctx) -> Result:
    name, started, history = "article-kill9", time.monotonic(), History()
    prefix = ctx.prefix(name)
    kills = ["all"] if ctx.quick else ["all", "one worker"]
    async with WriteLoad(ctx, history, prefix, ctx.writers, writers=6) as load:
        await asyncio.sleep(ctx.t(1.0, 3.0))
        startup = []
        for how in kills:
            startup.append(await _crash(ctx.articles, history, how))
            await asyncio.sleep(ctx.t(1.5, 4.0))
    check = await check_articles(ctx, history, prefix, load.writes)
    result = _result(name, history, started, check)
    _recovery(result, history, ["create"])
    result.notes.append(
        f"kills: {', '.join(kills)}; serving again after "
        + ", ".join(f"{s:.1f}" for s in startup)
        + " s"
    )
    return result


async def _crash(service: Service, history: History, how: str) -> float:
    """kill -9 the whole service ("all", then start it again) or one worker (its service's
    supervisor forks a new one); the seconds until every worker served again."""
    history.mark_fault()
    if how == "all":
        await in_thread(service.kill9)
        await in_thread(service.start, wait=False)
    else:
        before = set(service.worker_pids())
        killed = service.kill9_worker(_RNG.randrange(service.workers))
        while killed in service.worker_pids() or set(service.worker_pids()) <= before - {killed}:
            if service.process is not None and service.process.poll() is not None:
                raise RuntimeError(f"{service.name} exited when one worker was killed")
            await asyncio.sleep(0.05)
    history.mark_healed()
    return float(await in_thread(service.wait_serving, 60.0))


# --- 2. kill -9 of the auth service ------------------------------------------------------


async def auth_kill9(ctx: Ctx) -> Result:
    name, started, history = "auth-kill9", time.monotonic(), History()
    kills = ["all"] if ctx.quick else ["all", "one worker"]
    async with AccountLoad(ctx, history, name, registrars=2, logins=1) as load:
        await asyncio.sleep(ctx.t(1.5, 3.0))
        startup = []
        for how in kills:
            startup.append(await _crash(ctx.auth, history, how))
            await asyncio.sleep(ctx.t(2.0, 4.0))
    check = await check_accounts(ctx, name, load.writes)
    result = _result(name, history, started, check)
    _recovery(result, history, ["register", "login"])
    result.notes.append(
        f"kills: {', '.join(kills)}; serving again after "
        + ", ".join(f"{s:.1f}" for s in startup)
        + " s"
    )
    return result


# --- 3. PostgreSQL restart ---------------------------------------------------------------


async def pg_restart(ctx: Ctx, mode: str) -> Result:
    name, started, history = f"pg-restart-{mode}", time.monotonic(), History()
    prefix = ctx.prefix(name)
    assert ctx.cluster.db is not None
    async with (
        WriteLoad(ctx, history, prefix, ctx.writers, writers=5) as writes,
        AccountLoad(ctx, history, name, registrars=1, logins=1) as accounts,
    ):
        await asyncio.sleep(ctx.t(1.0, 3.0))
        history.mark_fault()
        await in_thread(ctx.cluster.db.restart, mode, ctx.t(0.5, 2.0))
        history.mark_healed()
        await asyncio.sleep(ctx.t(3.0, 6.0))
    articles = await check_articles(ctx, history, prefix, writes.writes)
    users = await check_accounts(ctx, name, accounts.writes)
    result = _result(name, history, started, articles, users)
    _recovery(result, history, ["create"])
    # Both pools recovered by themselves (no restart of a service): health says so too.
    for service in (ctx.auth, ctx.articles):
        if not service.running():
            result.violations.append(f"{service.name} exited during the PostgreSQL restart")
    auth_recovery = history.recovery_seconds(["login", "register"])
    result.notes.append(
        "auth recovered in "
        + ("-" if auth_recovery is None else f"{auth_recovery:.2f} s")
        + f", articles in {result.recovery_s} s"
    )
    if auth_recovery is not None and auth_recovery > RECOVERY_BOUND_SECONDS:
        result.violations.append(f"auth did not recover within {RECOVERY_BOUND_SECONDS:.0f} s")
    return result


async def pg_restart_fast(ctx: Ctx) -> Result:
    return await pg_restart(ctx, "fast")


async def pg_restart_immediate(ctx: Ctx) -> Result:
    return await pg_restart(ctx, "immediate")


# --- 4. PostgreSQL frozen ----------------------------------------------------------------


async def pg_freeze(ctx: Ctx) -> Result:
    """SIGSTOP PostgreSQL for longer than every deadline, under load; then SIGCONT."""
    name, started, history = "pg-freeze", time.monotonic(), History()
    prefix = ctx.prefix(name)
    db = ctx.cluster.db
    assert db is not None
    freeze_seconds = ctx.t(7.0, 9.0)
    probe = await _one_article(ctx, history, ctx.prefix(name + "-probe"))
    window: list[float] = []
    health_seen: Counter[str] = Counter()
    stop = asyncio.Event()

    async def patient(kind: str, n: int) -> None:
        """Calls with a long deadline (30 s): the server itself must answer them promptly."""
        user = ctx.writers[0]
        while not stop.is_set():
            if kind == "probe-get":
                await cl.rpc(
                    history,
                    kind,
                    ctx.clients.articles_at(n).GetArticle,
                    articles_pb2.GetArticleRequest(id=probe),
                    timeout=30,
                )
            elif kind == "probe-list":
                await cl.rpc(
                    history,
                    kind,
                    ctx.clients.articles_at(n).ListArticles,
                    articles_pb2.ListArticlesRequest(limit=5),
                    timeout=30,
                )
            else:
                await cl.rpc(
                    history,
                    kind,
                    ctx.clients.auth_at(n).Login,
                    auth_pb2.LoginRequest(username=user.username, password=cl.PASSWORD),
                    timeout=30,
                )
            n += 1
            await asyncio.sleep(0.3)

    async def health_probe() -> None:
        targets = [ctx.auth.target, ctx.articles.target]
        while not stop.is_set():
            for target in targets:
                status = await in_thread(_health, target)
                if window and len(window) == 1:
                    health_seen[status] += 1
                if status not in ("SERVING", "NOT_SERVING"):
                    history.violate(f"health of {target} did not answer within 1 s: {status}")
            await asyncio.sleep(0.25)

    tasks = [
        asyncio.create_task(patient(kind, n))
        for kind in ("probe-get", "probe-list", "probe-login")
        for n in range(2)
    ]
    tasks.append(asyncio.create_task(health_probe()))
    try:
        async with WriteLoad(ctx, history, prefix, ctx.writers, writers=6, deadline=2.0) as load:
            await asyncio.sleep(ctx.t(1.0, 2.0))
            history.mark_fault()
            window.append(time.monotonic())
            await in_thread(db.freeze)
            try:
                await asyncio.sleep(freeze_seconds)
            finally:
                await in_thread(db.thaw)
            window.append(time.monotonic())
            history.mark_healed()
            await asyncio.sleep(ctx.t(4.0, 6.0))
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    check = await check_articles(ctx, history, prefix, load.writes)
    result = _result(name, history, started, check)
    _recovery(result, history, ["create"])
    # Every probe that was waiting at some point of the freeze.
    frozen = [
        a
        for a in history.attempts
        if a.kind.startswith("probe-") and a.started < window[1] and a.ended > window[0]
    ]
    slowest = max((a.latency for a in frozen), default=0.0)
    for attempt in frozen:
        if attempt.latency > PROMPT_ANSWER_SECONDS:
            result.violations.append(
                f"{attempt.kind} answered after {attempt.latency:.1f} s ({attempt.code})"
            )
        elif (
            attempt.outcome is Outcome.OK
            and window[0] + 0.5 < attempt.started < attempt.ended < window[1]
        ):
            result.violations.append(f"{attempt.kind} answered OK with the database frozen")
    worst: dict[str, Attempt] = {}
    for attempt in frozen:
        if attempt.kind not in worst or attempt.latency > worst[attempt.kind].latency:
            worst[attempt.kind] = attempt
    slowest_by_kind = ", ".join(
        f"{kind[6:]} {a.latency:.1f} s ({a.code})" for kind, a in sorted(worst.items())
    )
    result.notes.append(
        f"frozen {freeze_seconds:.0f} s; long-deadline (30 s) calls waiting during it answered "
        f"{dict(Counter(a.code for a in frozen))}, slowest {slowest:.1f} s: {slowest_by_kind}; "
        f"health checks during it: {dict(health_seen)}"
    )
    if not health_seen.get("NOT_SERVING"):
        result.violations.append("health never reported NOT_SERVING while the database was frozen")
    return result


def _health(target: str) -> str:
    return health_status(target, timeout=1.0)


async def _one_article(ctx: Ctx, history: History, prefix: str) -> int:
    write = Write(str(uuid.uuid4()))
    await cl.create_with_retries(
        ctx.clients,
        history,
        ctx.writers[0],
        write,
        f"{prefix}probe",
        via="grpc",
        deadline=5.0,
        retry_until=time.monotonic() + 30,
    )
    if not isinstance(write.value, int):
        raise RuntimeError("could not create the probe article")
    return write.value


# --- 5. SIGTERM with requests in flight --------------------------------------------------


async def sigterm_inflight(ctx: Ctx) -> Result:
    name, started, history = "sigterm-inflight", time.monotonic(), History()
    prefix = ctx.prefix(name)
    db = ctx.cluster.db
    assert db is not None
    inflight: list[Write] = []
    late: list[Write] = []

    # Articles: requests held in flight by a briefly frozen database.
    watches = [asyncio.create_task(_watch_health(t)) for t in ctx.articles.worker_targets]
    await asyncio.sleep(0.3)
    history.mark_fault()
    await in_thread(db.freeze)
    try:
        held = []
        for i in range(8):
            write = Write(str(uuid.uuid4()))
            inflight.append(write)
            held.append(
                asyncio.create_task(
                    cl.create_once(
                        ctx.clients,
                        history,
                        ctx.writers[i % len(ctx.writers)],
                        write,
                        f"{prefix}inflight-{i}",
                        via="grpc",
                        deadline=20.0,
                        stub=i,
                    )
                )
            )
        await asyncio.sleep(0.5)
        term_at = time.monotonic()
        ctx.articles.sigterm()
        await asyncio.sleep(0.3)
        for i in range(4):
            write = Write(str(uuid.uuid4()))
            late.append(write)
            await cl.create_once(
                ctx.clients,
                history,
                ctx.writers[0],
                write,
                f"{prefix}late-{i}",
                via="grpc",
                deadline=2.0,
                stub=i,
            )
        await asyncio.sleep(0.7)
    finally:
        await in_thread(db.thaw)
    await asyncio.gather(*held)
    code = await in_thread(ctx.articles.wait_exit, 15.0)
    exit_after = time.monotonic() - term_at
    seen = await asyncio.gather(*watches)
    await in_thread(ctx.articles.start, wait=False)
    history.mark_healed()
    await in_thread(ctx.articles.wait_serving, 60.0)
    await _one_article(ctx, history, ctx.prefix(name + "-after"))
    violations = _sigterm_checks("articles", inflight, late, seen, term_at, code)

    # Auth: logins held in flight by bcrypt. Its health probe saw the freeze above too:
    # start from SERVING, or the watch ends on a NOT_SERVING from before the SIGTERM.
    await in_thread(ctx.auth.wait_serving, 30.0)
    watches = [asyncio.create_task(_watch_health(t)) for t in ctx.auth.worker_targets]
    await asyncio.sleep(0.3)
    logins: list[Write] = []
    late_logins: list[Write] = []

    async def login(write: Write, stub: int, deadline: float) -> None:
        user = ctx.writers[stub % len(ctx.writers)]
        target = ctx.clients.auth_at(stub)
        attempt, _ = await cl.rpc(
            history,
            "login",
            target.Login,
            auth_pb2.LoginRequest(username=user.username, password=cl.PASSWORD),
            timeout=deadline,
        )
        write.attempts.append(attempt)

    held_logins = []
    for i in range(4):
        write = Write(f"login-{i}")
        logins.append(write)
        held_logins.append(asyncio.create_task(login(write, i, 20.0)))
    await asyncio.sleep(0.15)
    auth_term = time.monotonic()
    ctx.auth.sigterm()
    await asyncio.sleep(0.3)
    for i in range(3):
        write = Write(f"late-login-{i}")
        late_logins.append(write)
        await login(write, i, 2.0)
    await asyncio.gather(*held_logins)
    auth_code = await in_thread(ctx.auth.wait_exit, 15.0)
    auth_exit_after = time.monotonic() - auth_term
    seen = await asyncio.gather(*watches)
    await in_thread(ctx.auth.start, wait=False)
    history.mark_healed()
    await in_thread(ctx.auth.wait_serving, 60.0)
    for _ in range(20):
        after = Write("login-after-restart")
        await login(after, 0, 5.0)
        if after.outcome is Outcome.OK:
            break
        await asyncio.sleep(0.5)
    violations += _sigterm_checks("auth", logins, late_logins, seen, auth_term, auth_code)

    check = await check_articles(ctx, history, prefix, [*inflight, *late])
    result = _result(name, history, started, check)
    result.violations.extend(violations)
    result.acknowledged += sum(w.outcome is Outcome.OK for w in logins)
    _recovery(result, history, ["create", "login"])
    result.notes.append(
        f"articles: {len(inflight)} in flight, exit {code} after {exit_after:.1f} s; "
        f"auth: {len(logins)} logins in flight, exit {auth_code} after {auth_exit_after:.1f} s"
    )
    return result


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


# --- 6. the article service cut off from the auth service ------------------------------


def _forged_token(kid: str = "forged-kid") -> str:
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


async def auth_cutoff(ctx: Ctx) -> Result:
    """Decided behaviour, while the auth service is unreachable:
    - a worker that already holds the signing keys keeps verifying tokens locally: every
      write with a valid token succeeds, and reads too;
    - a token with a kid nobody published answers UNAUTHENTICATED or UNAVAILABLE, never OK;
    - a worker started during the cut has no keys: a valid token answers UNAVAILABLE (503),
      never UNAUTHENTICATED (the client's token is fine; it must not be thrown away);
    - once auth is back, writes succeed again within a few seconds."""
    name, started, history = "auth-cutoff", time.monotonic(), History()
    prefix = ctx.prefix(name)
    forged = cl.User(1, "forged", "forged@faults.example", _forged_token())
    extra: list[Write] = []

    async def once(user: cl.User, label: str, i: int, via: str = "grpc") -> Attempt:
        write = Write(str(uuid.uuid4()))
        extra.append(write)
        return await cl.create_once(
            ctx.clients,
            history,
            user,
            write,
            f"{prefix}{label}-{i}",
            via=via,
            deadline=3.0,
            stub=i,
        )

    # Warm every worker's key cache (the worker ports reach each worker).
    for i in range(2 * len(ctx.clients.articles_stubs)):
        write = Write(str(uuid.uuid4()))
        extra.append(write)
        await cl.create_with_retries(
            ctx.clients,
            history,
            ctx.writers[0],
            write,
            f"{prefix}warm-{i}",
            via="grpc",
            deadline=5.0,
            retry_until=time.monotonic() + 20,
            stub=i,
        )
    history.mark_fault()
    await in_thread(ctx.auth.kill9)
    cut_at = time.monotonic()
    forged_answers: list[Attempt] = []
    async with WriteLoad(ctx, history, prefix, ctx.writers, writers=4) as phase_a:
        for i in range(2):
            forged_answers.append(await once(forged, "forged", i, "http" if i % 2 else "grpc"))
            await asyncio.sleep(ctx.t(0.5, 2.0))
    phase_a_end = time.monotonic()
    marks = [("cut", cut_at), ("cut-load", phase_a_end)]
    refused = [
        a
        for a in history.attempts
        if a.kind == "create"
        and cut_at <= a.started < phase_a_end
        and a.outcome is not Outcome.OK
        and a not in forged_answers
    ]

    # A fresh article service while auth is still away: it has no keys yet.
    await in_thread(ctx.articles.kill9)
    await in_thread(ctx.articles.start)
    marks.append(("restarted", time.monotonic()))
    fresh = [
        await once(ctx.writers[i % len(ctx.writers)], "fresh", i, "http" if i % 3 == 2 else "grpc")
        for i in range(4)
    ]
    marks.append(("fresh", time.monotonic()))
    # Auth comes back.
    async with WriteLoad(ctx, history, prefix + "after ", ctx.writers, writers=4) as phase_c:
        await asyncio.sleep(0.5)
        await in_thread(ctx.auth.start, wait=False)
        history.mark_healed()
        await in_thread(ctx.auth.wait_serving, 60.0)
        marks.append(("auth back", time.monotonic()))
        await asyncio.sleep(ctx.t(4.0, 7.0))
    marks.append(("end", time.monotonic()))
    check = await check_articles(ctx, history, prefix, [*extra, *phase_a.writes, *phase_c.writes])
    result = _result(name, history, started, check)
    for attempt in forged_answers:
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
    _recovery(result, history, ["create"])
    result.notes.append(
        f"auth down: {len(phase_a.writes)} writes with cached keys, {len(refused)} refused; "
        f"unknown kid: {dict(Counter(a.code for a in forged_answers))}; restarted worker "
        f"without keys: {dict(Counter(a.code for a in fresh))}; timeline "
        + ", ".join(f"{label} {at - started:.1f}" for label, at in marks)
    )
    return result


# --- 7. account deletions while the article service is killed ---------------------------


async def deletions_chaos(ctx: Ctx) -> Result:
    name, started, history = "deletions-chaos", time.monotonic(), History()
    prefix = ctx.prefix(name)
    doomed_n, survivors_n = (4, 2) if ctx.quick else (8, 3)
    users = await cl.register_users(ctx.clients, history, f"dc{ctx.tag}u", doomed_n + survivors_n)
    doomed, survivors = users[:doomed_n], users[doomed_n:]
    chaos_seconds = ctx.t(5.0, 14.0)
    writes: list[Write] = []
    author: dict[str, int] = {}
    deletions: list[Write] = []
    stop = asyncio.Event()
    deleted_ack: set[int] = set()

    async def writer(user: cl.User, index: int) -> None:
        number = 0
        while not stop.is_set():
            write = Write(str(uuid.uuid4()))
            writes.append(write)
            author[write.key] = user.id
            await cl.create_with_retries(
                ctx.clients,
                history,
                user,
                write,
                f"{prefix}{user.id}-{number}",
                via="http" if index % 3 == 2 else "grpc",
                deadline=2.0,
                retry_until=time.monotonic() + 8.0,
                stub=index + number,
            )
            if write.outcome is Outcome.FAILED and user.id in deleted_ack:
                return  # refused for good: this user is gone
            number += 1
            await asyncio.sleep(0.05)

    async def delete(user: cl.User, at: float) -> None:
        await sleep_until(at)
        write = Write(str(user.id))
        deletions.append(write)
        until = time.monotonic() + 20.0
        while True:
            target = ctx.clients.auth_at(len(write.attempts))
            attempt, _ = await cl.rpc(
                history,
                "delete-user",
                target.DeleteCurrentUser,
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
                deleted_ack.add(user.id)
            if attempt.outcome is not Outcome.INDETERMINATE or time.monotonic() > until:
                return
            if landed_before:
                return
            await asyncio.sleep(0.3)

    async def chaos() -> None:
        end = time.monotonic() + chaos_seconds
        k = 0
        while time.monotonic() < end:
            await asyncio.sleep(_RNG.uniform(0.3, 1.2))
            if not ctx.quick and k == 2:
                await _crash(ctx.auth, history, "all")
            else:
                await _crash(ctx.articles, history, "all" if k % 2 == 0 else "one worker")
            k += 1

    # Some articles exist before the chaos starts.
    tasks = [asyncio.create_task(writer(u, i)) for i, u in enumerate(users)]
    await asyncio.sleep(1.0)
    begin = time.monotonic()
    tasks += [
        asyncio.create_task(delete(u, begin + _RNG.uniform(0, chaos_seconds))) for u in doomed
    ]
    await chaos()
    stop.set()
    await asyncio.gather(*tasks)
    await in_thread(ctx.cluster.ensure_healthy)
    caught_up = await ctx.truth.feed_caught_up(within=30.0)

    # The truth.
    doomed_ids = [u.id for u in doomed]
    present = await ctx.truth.users_by_id([u.id for u in users])
    gone = [uid for uid in doomed_ids if uid not in present]
    deletion_check = check_set(deletions, Counter(str(uid) for uid in gone))
    for user in survivors:
        if user.id not in present:
            deletion_check.unexpected.append(f"survivor {user.id} was deleted")
    remaining = await ctx.truth.articles_of(gone)
    recorded = await ctx.truth.deleted_recorded(gone)
    authors_left = await ctx.truth.authors(gone)
    living_writes = [w for w in writes if author[w.key] in present]
    rows = await ctx.truth.articles(prefix)
    living_rows = Counter(
        r.request_id or f"row {r.id}" for r in rows if r.author_id not in set(gone)
    )
    article_check = check_set(living_writes, living_rows)
    for uid, count in remaining.items():
        article_check.unexpected.append(f"{count} article(s) of deleted user {uid}")
    result = _result(name, history, started, deletion_check, article_check)
    if caught_up is None:
        result.violations.append("the article service's feed did not catch up within 30 s")
    for uid in gone:
        if uid not in recorded:
            result.violations.append(f"deleted user {uid} not in articles.deleted_users")
        if uid in authors_left:
            result.violations.append(f"deleted user {uid} still in articles.authors")
    # A deleted user's token is refused by every worker.
    by_id = {u.id: u for u in doomed}
    for i, uid in enumerate(gone):
        attempt = await cl.create_once(
            ctx.clients,
            history,
            by_id[uid],
            Write(str(uuid.uuid4())),
            f"{prefix}after-{uid}",
            via="grpc",
            deadline=3.0,
            stub=i,
        )
        if attempt.code != "UNAUTHENTICATED":
            result.violations.append(f"deleted user {uid}'s token answered {attempt.code}")
    _recovery(result, history, ["create", "delete-user", "setup-login"])
    result.notes.append(
        f"{len(gone)}/{len(doomed)} users deleted, {len(history.heals)} kills, feed caught up "
        + ("never" if caught_up is None else f"{caught_up:.1f} s after")
    )
    return result


# --- 8. one email, many registrations ----------------------------------------------------


async def email_race(ctx: Ctx) -> Result:
    name, started, history = "email-race", time.monotonic(), History()
    rounds, parallel = (2, 4) if ctx.quick else (4, 6)
    writes: list[Write] = []
    winners = 0
    for r in range(rounds):
        local = f"race{ctx.tag}r{r}"
        domain = ctx.domain(name)
        variants = [_vary_case(f"{local}{domain}", i) for i in range(parallel)]
        round_writes = [Write(v.lower()) for v in variants]
        await asyncio.gather(
            *(
                register_with_retries(
                    ctx.clients,
                    history,
                    w,
                    v,
                    f"{local}u{i}",
                    http_client=ctx.clients.http if i % 2 else None,
                    deadline=15.0,
                    retry_until=0.0,
                    stub=i,
                )
                for i, (w, v) in enumerate(zip(round_writes, variants, strict=True))
            )
        )
        oks = [w for w in round_writes if w.outcome is Outcome.OK]
        others = {a.code for w in round_writes if w.outcome is not Outcome.OK for a in w.attempts}
        if len(oks) != 1:
            history.violate(f"round {r}: {len(oks)} registrations of one email succeeded")
        if others - {"ALREADY_EXISTS", "HTTP 409"}:
            history.violate(f"round {r}: losers answered {sorted(others)}")
        winners += len(oks)
        writes.append(oks[0] if oks else round_writes[0])
    found = await ctx.truth.users(ctx.domain(name))
    check = check_set(writes, found)
    result = _result(name, history, started, check)
    result.notes.append(f"{rounds} rounds of {parallel} parallel registrations, {winners} won")
    return result


def _vary_case(text: str, index: int) -> str:
    rng = random.Random(index)  # noqa: S311 - a repeatable case pattern, not a secret
    return "".join(c.upper() if rng.random() < 0.5 else c for c in text)


# --- 9. one etag, many updates ------------------------------------------------------------


async def etag_race(ctx: Ctx) -> Result:
    name, started, history = "etag-race", time.monotonic(), History()
    prefix = ctx.prefix(name)
    rounds, parallel = (4, 6) if ctx.quick else (15, 8)
    user = ctx.writers[0]
    acknowledged = 0
    checks: list[SetCheck] = []
    for r in range(rounds):
        article_id = await _one_article(ctx, history, f"{prefix}{r} ")
        row = await ctx.truth.article(article_id)
        assert row is not None
        etag = f"{article_id}.{row.version}"
        titles = [f"{prefix}{r} winner-{i}" for i in range(parallel)]

        async def update(
            i: int, etag: str = etag, article_id: int = article_id, titles: list[str] = titles
        ) -> Attempt:
            if i % 2 and ctx.clients.http is not None:
                attempt, _ = await cl.http(
                    history,
                    ctx.clients.http,
                    "update",
                    "PATCH",
                    f"/articles/{article_id}",
                    json={"title": titles[i], "etag": etag},
                    headers=user.headers,
                    timeout=10.0,
                )
                return attempt
            request = articles_pb2.UpdateArticleRequest(id=article_id, title=titles[i], etag=etag)
            stub = ctx.clients.articles_at(i)
            attempt, _ = await cl.rpc(
                history,
                "update",
                stub.UpdateArticle,
                request,
                metadata=user.metadata,
                timeout=10.0,
            )
            return attempt

        outcomes = await asyncio.gather(*(update(i) for i in range(parallel)))
        oks = [i for i, a in enumerate(outcomes) if a.outcome is Outcome.OK]
        losers = {a.code for a in outcomes if a.outcome is not Outcome.OK}
        if len(oks) != 1:
            history.violate(f"round {r}: {len(oks)} updates with one etag succeeded")
        if losers - {"ABORTED", "HTTP 409"}:
            history.violate(f"round {r}: losers answered {sorted(losers)}")
        after = await ctx.truth.article(article_id)
        assert after is not None
        writes = [Write(titles[i], [a]) for i, a in enumerate(outcomes)]
        checks.append(check_set(writes, Counter([after.title])))
        if after.version != row.version + 1:
            history.violate(f"round {r}: version {row.version} -> {after.version}")
        acknowledged += len(oks)
    result = _result(name, history, started, *checks)
    result.notes.append(f"{rounds} rounds of {parallel} parallel updates, {acknowledged} won")
    return result


Scenario = Callable[[Ctx], Awaitable[Result]]
SCENARIOS: dict[str, Scenario] = {
    "article-kill9": article_kill9,
    "auth-kill9": auth_kill9,
    "pg-restart-fast": pg_restart_fast,
    "pg-restart-immediate": pg_restart_immediate,
    "pg-freeze": pg_freeze,
    "sigterm-inflight": sigterm_inflight,
    "auth-cutoff": auth_cutoff,
    "deletions-chaos": deletions_chaos,
    "email-race": email_race,
    "etag-race": etag_race,
}
