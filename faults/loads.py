"""The loads the scenarios run while they hurt the stack, and the set checks of what they
wrote: article writes (`WriteLoad`, `check_articles`) and registrations with logins
(`AccountLoad`, `check_accounts`), each until stopped, every answer in the History."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any, Self

from blog.auth.v1 import auth_pb2

from faults import clients as cl
from faults.context import Ctx
from faults.history import Attempt, History, Outcome, SetCheck, Write, check_set


class Load:
    """Tasks that run `loops()` until the `async with` block ends, then are awaited."""

    def __init__(self) -> None:
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def loops(self) -> list[Coroutine[Any, Any, None]]:
        raise NotImplementedError

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def __aenter__(self) -> Self:
        self._tasks = [asyncio.create_task(loop) for loop in self.loops()]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)


class WriteLoad(Load):
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
        super().__init__()
        self.ctx, self.history, self.prefix, self.users = ctx, history, prefix, users
        self.writers, self.deadline = writers, deadline
        self.retry_seconds, self.think = retry_seconds, think
        self.writes: list[Write] = []

    def loops(self) -> list[Coroutine[Any, Any, None]]:
        return [self._writer(i) for i in range(self.writers)]

    async def _writer(self, index: int) -> None:
        user = self.users[index % len(self.users)]
        via = "http" if self.ctx.clients.http is not None and index % 3 == 2 else "grpc"
        retry = index % 2 == 0
        number = 0
        while not self.stopping:
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
    """The set check of article writes against the rows titled `prefix`...; a retried
    create acknowledged with another id than its row's is a violation too."""
    rows = await ctx.truth.articles(prefix)
    found = Counter(r.request_id or f"row {r.id} without request_id" for r in rows)
    by_key = {r.request_id: r for r in rows}
    for write in writes:
        row = by_key.get(write.key)
        if write.outcome is Outcome.OK and row is not None and write.value != row.id:
            history.violate(f"request_id {write.key} acknowledged as {write.value}, row {row.id}")
    return check_set(writes, found)


async def one_article(ctx: Ctx, history: History, prefix: str) -> int:
    """One article, created with retries (set-up of a scenario, not its load); its id."""
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


class AccountLoad(Load):
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
        super().__init__()
        self.ctx, self.history, self.scenario = ctx, history, scenario
        self.registrars, self.logins, self.deadline = registrars, logins, deadline
        self.writes: list[Write] = []

    def loops(self) -> list[Coroutine[Any, Any, None]]:
        registrations = [self._register(i) for i in range(self.registrars)]
        return [*registrations, *(self._login(i) for i in range(self.logins))]

    async def _register(self, index: int) -> None:
        http_client = self.ctx.clients.http if index % 2 == 1 else None
        number = 0
        while not self.stopping:
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
        while not self.stopping:
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


async def _register_once(
    clients: cl.Clients,
    history: History,
    email: str,
    username: str,
    request_id: str,
    *,
    http_client: Any,
    deadline: float,
    stub: int,
) -> Attempt:
    if http_client is not None:
        body = {"email": email, "username": username, "password": cl.PASSWORD}
        attempt, _ = await cl.http(
            history,
            http_client,
            "register",
            "POST",
            "/auth/register",
            json={**body, "request_id": request_id},
            timeout=deadline,
        )
        return attempt
    request = cl.register_request(email, username, request_id)
    target = clients.auth_at(stub)
    attempt, _ = await cl.rpc(history, "register", target.Register, request, timeout=deadline)
    return attempt


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
        attempt = await _register_once(
            clients,
            history,
            email,
            username,
            request_id,
            http_client=http_client,
            deadline=deadline,
            stub=stub,
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
    """The set check of registrations by email, and the outbox: every account has its
    "created" event (written in the same transaction)."""
    domain = ctx.domain(scenario)
    check = check_set(writes, await ctx.truth.users(domain))
    missing = await ctx.truth.users_without_created_event(domain)
    check.lost.extend(f"created event of {email}" for email in missing)
    return check
