"""Clients the scenarios drive: async gRPC straight to a service, and HTTP through Envoy.

Every call has a deadline and is recorded in a History. Channels reconnect quickly
(100 ms .. 500 ms backoff), so recovery times measure the services, not gRPC's default
client backoff (which grows to two minutes).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
from blog.articles.v1 import articles_pb2, articles_pb2_grpc
from blog.auth.v1 import auth_pb2, auth_pb2_grpc

from faults.history import Attempt, History, Outcome, Write, grpc_attempt, http_attempt

PASSWORD = "correct horse battery"  # noqa: S105 - the test users' password
CONTENT = "Written by the fault suite, one logical write per request_id."
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
    ("grpc.enable_retries", 0),  # every attempt is ours, and recorded
]
_REGISTER_HAS_REQUEST_ID = "request_id" in auth_pb2.RegisterRequest.DESCRIPTOR.fields_by_name


def channel(target: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)


@dataclass(frozen=True)
class User:
    id: int
    username: str
    email: str
    token: str

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),)

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


class Clients:
    """Channels to each service's shared port and to each of its workers' own ports (so load
    reaches every worker), and one HTTP client for the gateway."""

    def __init__(
        self, auth_targets: list[str], articles_targets: list[str], gateway_url: str | None
    ) -> None:
        self._channels = [channel(t) for t in (*auth_targets, *articles_targets)]
        n = len(auth_targets)
        self.auth_stubs = [auth_pb2_grpc.AuthServiceStub(c) for c in self._channels[:n]]
        self.articles_stubs = [articles_pb2_grpc.ArticleServiceStub(c) for c in self._channels[n:]]
        self.auth = self.auth_stubs[0]
        self.articles = self.articles_stubs[0]
        self.http = (
            None
            if gateway_url is None
            else httpx.AsyncClient(
                base_url=gateway_url, timeout=12.0, limits=httpx.Limits(max_connections=32)
            )
        )

    def articles_at(self, index: int) -> articles_pb2_grpc.ArticleServiceAsyncStub:
        return self.articles_stubs[index % len(self.articles_stubs)]

    def auth_at(self, index: int) -> auth_pb2_grpc.AuthServiceAsyncStub:
        return self.auth_stubs[index % len(self.auth_stubs)]

    async def close(self) -> None:
        for item in self._channels:
            await item.close()
        if self.http is not None:
            await self.http.aclose()


async def rpc(
    history: History, kind: str, method: Callable[..., Awaitable[Any]], request: Any, **kwargs: Any
) -> tuple[Attempt, Any]:
    """Run one gRPC call, `method(request, **kwargs)`, and record it; the reply (None unless
    OK) comes back too."""
    started = time.monotonic()
    try:
        reply = await method(request, **kwargs)
    except grpc.aio.AioRpcError as exc:
        return history.add(grpc_attempt(kind, started, exc)), None
    return history.add(grpc_attempt(kind, started, None)), reply


async def http(
    history: History,
    client: httpx.AsyncClient,
    kind: str,
    method: str,
    path: str,
    **kwargs: Any,
) -> tuple[Attempt, httpx.Response | None]:
    started = time.monotonic()
    try:
        response = await client.request(method, path, **kwargs)
    except httpx.TimeoutException:
        return history.add(http_attempt(kind, started, "timeout")), None
    except httpx.TransportError as exc:
        return history.add(http_attempt(kind, started, "reset", type(exc).__name__)), None
    return history.add(http_attempt(kind, started, response.status_code, response.text)), response


# --- accounts -----------------------------------------------------------------------


def register_request(email: str, username: str, request_id: str) -> auth_pb2.RegisterRequest:
    fields: dict[str, Any] = {"email": email, "username": username, "password": PASSWORD}
    if _REGISTER_HAS_REQUEST_ID:
        fields["request_id"] = request_id
    return auth_pb2.RegisterRequest(**fields)


async def register_and_login(
    clients: Clients, history: History, username: str, *, attempts: int = 20
) -> User:
    """A new user and a token; retried until it works (set-up, not the measured load)."""
    email = f"{username}@faults.example"
    request_id = str(uuid.uuid4())
    user_id: int | None = None
    for _ in range(attempts):
        if user_id is None:
            attempt, reply = await rpc(
                history,
                "setup-register",
                clients.auth.Register,
                register_request(email, username, request_id),
                timeout=10,
            )
            if reply is not None:
                user_id = reply.id
            elif attempt.code == "ALREADY_EXISTS":
                user_id = -1  # an earlier attempt landed: log in to learn the id
            elif attempt.outcome is Outcome.FAILED:
                raise RuntimeError(f"registering {username}: {attempt.code} {attempt.message}")
        if user_id is not None:
            _, token = await rpc(
                history,
                "setup-login",
                clients.auth.Login,
                auth_pb2.LoginRequest(username=username, password=PASSWORD),
                timeout=10,
            )
            if token is not None:
                if user_id == -1:
                    me = await clients.auth.GetCurrentUser(
                        auth_pb2.GetCurrentUserRequest(),
                        metadata=(("authorization", f"Bearer {token.access_token}"),),
                        timeout=10,
                    )
                    user_id = me.id
                return User(user_id, username, email, token.access_token)
        await asyncio.sleep(0.5)
    raise RuntimeError(f"could not register and log in {username}")


async def register_users(clients: Clients, history: History, prefix: str, count: int) -> list[User]:
    return list(
        await asyncio.gather(
            *(register_and_login(clients, history, f"{prefix}{i}") for i in range(count))
        )
    )


# --- articles -----------------------------------------------------------------------


async def create_once(
    clients: Clients,
    history: History,
    user: User,
    write: Write,
    title: str,
    *,
    via: str,
    deadline: float,
    stub: int = 0,
) -> Attempt:
    """One attempt of a logical create (same request_id on every attempt)."""
    if via == "http":
        assert clients.http is not None
        body = {"title": title, "content": CONTENT, "published": True, "request_id": write.key}
        attempt, response = await http(
            history,
            clients.http,
            "create",
            "POST",
            "/articles",
            json=body,
            headers=user.headers,
            timeout=deadline,
        )
        if response is not None and attempt.outcome is Outcome.OK:
            write.value = response.json()["id"]
    else:
        request = articles_pb2.CreateArticleRequest(
            title=title, content=CONTENT, published=True, request_id=write.key
        )
        attempt, reply = await rpc(
            history,
            "create",
            clients.articles_at(stub).CreateArticle,
            request,
            metadata=user.metadata,
            timeout=deadline,
        )
        if reply is not None:
            write.value = reply.id
    write.attempts.append(attempt)
    return attempt


async def create_with_retries(
    clients: Clients,
    history: History,
    user: User,
    write: Write,
    title: str,
    *,
    via: str,
    deadline: float,
    retry_until: float,
    stub: int = 0,
) -> None:
    """Attempt until acknowledged, refused, or `retry_until` (monotonic) has passed.

    A retry that is acknowledged must name the same article as any earlier acknowledgement
    of the same request_id (checked by the scenario through `write.value`)."""
    backoff = 0.1
    while True:
        before = write.value
        attempt = await create_once(
            clients, history, user, write, title, via=via, deadline=deadline, stub=stub
        )
        if before is not None and write.value != before:
            history.violate(f"request_id {write.key}: ids {before} and {write.value}")
        if attempt.outcome is not Outcome.INDETERMINATE or time.monotonic() >= retry_until:
            return
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 0.5)
