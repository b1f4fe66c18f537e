"""Steady traffic through the gateway, every answer recorded: what a stack under change serves.

Writers create articles (POST, each with a request_id; an indeterminate answer is retried
with the same id, so a write lands at most once); readers fetch articles already
acknowledged. Afterwards: throughput in any window, every failure, and a check that each
acknowledged (201) article can still be read.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from dataclasses import dataclass, field

import httpx

PASSWORD = "correct horse battery"  # noqa: S105 - the load's users' password
INDETERMINATE = {502, 503, 504}  # the write may or may not have happened: retry it


@dataclass(frozen=True)
class Sample:
    at: float  # monotonic time of the answer
    kind: str  # "create" or "read"
    status: int  # HTTP status; 0 when the connection failed
    detail: str = ""


async def register(http: httpx.AsyncClient, name: str) -> str:
    """A new account through the gateway; returns its bearer token."""
    email = f"{name}@example.com"
    reply = await http.post(
        "/auth/register", json={"email": email, "username": name, "password": PASSWORD}
    )
    if reply.status_code != 201:
        raise RuntimeError(f"register {name}: {reply.status_code} {reply.text}")
    login = await http.post("/auth/login", data={"username": name, "password": PASSWORD})
    if login.status_code != 200:
        raise RuntimeError(f"login {name}: {login.status_code} {login.text}")
    return str(login.json()["access_token"])


@dataclass
class GatewayLoad:
    base_url: str
    tokens: list[str]
    readers: int = 2
    title: str = "load"
    samples: list[Sample] = field(default_factory=list)
    acknowledged: list[int] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self._http = httpx.AsyncClient(
            base_url=self.base_url, timeout=12.0, limits=httpx.Limits(max_connections=16)
        )
        loops = [self._writer(token, i) for i, token in enumerate(self.tokens)]
        loops += [self._reader(i) for i in range(self.readers)]
        self._tasks = [asyncio.create_task(loop) for loop in loops]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        await self._http.aclose()

    async def _send(self, kind: str, method: str, url: str, **kwargs: object) -> int:
        try:
            reply = await self._http.request(method, url, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            self.samples.append(Sample(time.monotonic(), kind, 0, type(exc).__name__))
            return 0
        detail = "" if reply.status_code < 300 else reply.text[:200]
        self.samples.append(Sample(time.monotonic(), kind, reply.status_code, detail))
        if reply.status_code == 201:
            self.acknowledged.append(int(reply.json()["id"]))
        return reply.status_code

    async def _writer(self, token: str, index: int) -> None:
        headers = {"authorization": f"Bearer {token}"}
        for n in itertools.count():
            if self._stop.is_set():
                return
            body = {
                "title": f"{self.title} {index}-{n}",
                "content": "Written under load, one logical write per request_id.",
                "published": True,
                "request_id": str(uuid.uuid4()),
            }
            for attempt in range(20):  # the same request_id until the answer is definite
                status = await self._send("create", "POST", "/articles", json=body, headers=headers)
                if status and status not in INDETERMINATE:
                    break
                await asyncio.sleep(min(0.1 * 2**attempt, 1.0))

    async def _reader(self, index: int) -> None:
        rng = random.Random(index)  # noqa: S311 - picking ids to read, not a secret
        while not self._stop.is_set():
            if not self.acknowledged:
                await asyncio.sleep(0.05)
                continue
            await self._send("read", "GET", f"/articles/{rng.choice(self.acknowledged)}")

    def rate(self, since: float, until: float) -> float:
        """Successful answers per second between two monotonic times."""
        ok = sum(1 for s in self.samples if since <= s.at < until and s.status in (200, 201))
        return ok / max(until - since, 1e-9)

    def failures(self, since: float = 0.0) -> list[Sample]:
        return [s for s in self.samples if s.at >= since and s.status not in (200, 201)]

    async def lost(self) -> list[int]:
        """Acknowledged articles that cannot be read back (each is retried for a while)."""
        missing = []
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10.0) as http:
            for article_id in sorted(set(self.acknowledged)):
                for attempt in range(10):
                    reply = await http.get(f"/articles/{article_id}")
                    if reply.status_code == 200:
                        break
                    if reply.status_code == 404 or attempt == 9:
                        missing.append(article_id)
                        break
                    await asyncio.sleep(0.5)
        return missing
