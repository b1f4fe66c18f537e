"""Mixed traffic through the gateway, with a ledger of everything the stack acknowledged.

Each worker drives accounts of its own (nobody else writes to them), so every answer has
one right status: a 404 is right only for an article whose deletion, or whose author's,
has been sent. Reads pick from every worker's published articles.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum

import httpx

PASSWORD = "soak horse battery staple"  # noqa: S105 - the throwaway accounts' password
UNEXPECTED_SAMPLES = 20
ACCOUNT_PREFIX = "soak_"  # every account and article the soak makes is named so
TITLE_PREFIX = "soak "


class State(Enum):
    LIVE = "live"
    DELETING = "deleting"  # the delete was sent; its answer may not have come yet
    DELETED = "deleted"


@dataclass
class Account:
    id: int
    username: str
    token: str
    state: State = State.LIVE


@dataclass
class Article:
    id: int
    author: Account
    title: str
    content: str
    published: bool
    etag: str
    state: State = State.LIVE

    @property
    def visible(self) -> bool:
        return self.state is State.LIVE and self.author.state is State.LIVE


@dataclass
class Ledger:
    """What the stack acknowledged, and what it may or may not have done (no answer)."""

    accounts: dict[int, Account] = field(default_factory=dict)
    articles: dict[int, Article] = field(default_factory=dict)
    published: list[int] = field(default_factory=list)
    # Creates without an answer: (author id, title); such a row is "recovered", not unexpected.
    indeterminate_creates: list[tuple[int, str]] = field(default_factory=list)
    indeterminate_registrations: list[str] = field(default_factory=list)


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[tuple[str, str]] = field(default_factory=Counter)
    unexpected: Counter[tuple[str, str]] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)

    def record(self, op: str, status: str, seconds: float, expected: bool, detail: str) -> None:
        self.latencies.setdefault(op, []).append(seconds)
        self.statuses[(op, status)] += 1
        if not expected:
            self.unexpected[(op, status)] += 1
            if len(self.samples) < UNEXPECTED_SAMPLES:
                self.samples.append(f"{op} -> {status}: {detail[:300]}")

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())


# Weights of the operations in the mix (reads dominate, as on a blog). Logins and
# registrations cost a bcrypt hash each (~0.25 s of a core): about 2% of the requests,
# so the auth service runs well below what two cores can hash.
MIX: dict[str, int] = {
    "list": 300,
    "get": 340,
    "me": 40,
    "create": 140,
    "update": 80,
    "delete_article": 40,
    "login": 10,
    "register": 5,
    "delete_account": 5,
}


# Requests that cost a bcrypt hash in flight at once, across all clients: logins arrive at a
# modest rate, and a queue of hashes on a busy machine would only measure the queue.
HASHING_IN_FLIGHT = 2


class Worker:
    """One client: a few accounts of its own, one request at a time."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        ledger: Ledger,
        stats: Stats,
        seed: int,
        hashing: asyncio.Semaphore,
    ) -> None:
        self.hashing = hashing
        self.client = client
        self.ledger = ledger
        self.stats = stats
        self.random = random.Random(seed)  # noqa: S311 - a traffic mix, not a secret
        self.mine: list[Account] = []
        self.ops: dict[str, Callable[[], Awaitable[None]]] = {
            "list": self.list_articles,
            "get": self.get_article,
            "me": self.me,
            "create": self.create,
            "update": self.update,
            "delete_article": self.delete_article,
            "login": self.login,
            "register": self.register,
            "delete_account": self.delete_account,
        }

    # -- plumbing
    async def call(
        self, op: str, method: str, path: str, expect: Callable[[int], bool], **kwargs: object
    ) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            reply = await self.client.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            self.stats.record(op, type(exc).__name__, time.perf_counter() - started, False, "")
            return None
        elapsed = time.perf_counter() - started
        ok = expect(reply.status_code)
        self.stats.record(op, str(reply.status_code), elapsed, ok, reply.text)
        return reply

    @staticmethod
    def auth(account: Account) -> dict[str, str]:
        return {"authorization": f"Bearer {account.token}"}

    def live_account(self) -> Account | None:
        live = [a for a in self.mine if a.state is State.LIVE]
        return self.random.choice(live) if live else None

    def own_articles(self, account: Account) -> list[Article]:
        return [
            a
            for a in self.ledger.articles.values()
            if a.author is account and a.state is State.LIVE
        ]

    def pick_published(self) -> Article | None:
        """A published article, mostly a live one: deleted ones leave the pool once drawn
        (each still gets its one GET, which must answer 404)."""
        published = self.ledger.published
        if not published:
            return None
        index = self.random.randrange(len(published))
        article = self.ledger.articles[published[index]]
        if article.state is State.DELETED or article.author.state is State.DELETED:
            published[index] = published[-1]
            published.pop()
        return article

    async def run(self, until: float) -> None:
        names, weights = list(MIX), list(MIX.values())
        while time.monotonic() < until:
            if not any(a.state is State.LIVE for a in self.mine):
                await self.register()
                continue
            await self.ops[self.random.choices(names, weights)[0]]()

    # -- accounts
    async def register(self) -> None:
        name = f"{ACCOUNT_PREFIX}{uuid.uuid4().hex[:12]}"
        body = {"email": f"{name}@example.com", "username": name, "password": PASSWORD}
        async with self.hashing:
            reply = await self.call(
                "register", "POST", "/auth/register", lambda s: s == 201, json=body
            )
        if reply is None:
            self.ledger.indeterminate_registrations.append(name)
            return
        if reply.status_code != 201:
            return
        account = Account(int(reply.json()["id"]), name, "")
        self.ledger.accounts[account.id] = account
        if await self._login(account):
            self.mine.append(account)

    async def _login(self, account: Account) -> bool:
        form = {"username": account.username, "password": PASSWORD}
        async with self.hashing:
            reply = await self.call("login", "POST", "/auth/login", lambda s: s == 200, data=form)
        if reply is None or reply.status_code != 200:
            return False
        account.token = str(reply.json()["access_token"])
        return True

    async def login(self) -> None:
        account = self.live_account()
        if account is not None:
            await self._login(account)

    async def me(self) -> None:
        account = self.live_account()
        if account is not None:
            await self.call("me", "GET", "/auth/me", lambda s: s == 200, headers=self.auth(account))

    async def delete_account(self) -> None:
        live = [a for a in self.mine if a.state is State.LIVE]
        if len(live) < 2:  # keep one; a registration replaces deleted ones over time
            await self.register()
            return
        account = self.random.choice(live)
        account.state = State.DELETING
        reply = await self.call(
            "delete_account", "DELETE", "/auth/me", lambda s: s == 204, headers=self.auth(account)
        )
        # No answer: it may have happened; the check treats its articles as either way.
        account.state = State.DELETED if reply is None or reply.status_code == 204 else State.LIVE

    # -- articles
    async def list_articles(self) -> None:
        account = self.live_account() if self.random.random() < 0.3 else None
        headers = self.auth(account) if account else {}
        limit = self.random.choice((5, 20, 50))
        await self.call(
            "list", "GET", f"/articles?limit={limit}", lambda s: s == 200, headers=headers
        )

    async def get_article(self) -> None:
        article = self.pick_published()
        if article is None:
            await self.list_articles()
            return

        def expect(status: int) -> bool:
            # Checked when the answer comes: a deletion sent meanwhile makes 404 right.
            return status == 200 or (status == 404 and not article.visible)

        await self.call("get", "GET", f"/articles/{article.id}", expect)

    async def create(self) -> None:
        account = self.live_account()
        if account is None:
            return
        title = f"{TITLE_PREFIX}{uuid.uuid4().hex[:10]}"
        content = "Soak test article body. " * self.random.randint(1, 40)
        published = self.random.random() < 0.7
        body = {
            "title": title,
            "content": content,
            "published": published,
            "request_id": str(uuid.uuid4()),
        }
        reply = await self.call(
            "create", "POST", "/articles", lambda s: s == 201, json=body, headers=self.auth(account)
        )
        if reply is None:
            self.ledger.indeterminate_creates.append((account.id, title))
            return
        if reply.status_code != 201:
            return
        data = reply.json()
        article = Article(int(data["id"]), account, title, content, published, str(data["etag"]))
        self.ledger.articles[article.id] = article
        if published:
            self.ledger.published.append(article.id)

    async def update(self) -> None:
        account = self.live_account()
        mine = self.own_articles(account) if account else []
        if account is None or not mine:
            await self.create()
            return
        article = self.random.choice(mine)
        title = f"{TITLE_PREFIX}{uuid.uuid4().hex[:10]} (edited)"
        body = {"title": title, "etag": article.etag}
        reply = await self.call(
            "update",
            "PATCH",
            f"/articles/{article.id}",
            lambda s: s == 200,
            json=body,
            headers=self.auth(account),
        )
        if reply is not None and reply.status_code == 200:
            article.title = title
            article.etag = str(reply.json()["etag"])
        elif reply is None:
            article.title = "?"  # unknown whether the edit landed

    async def delete_article(self) -> None:
        account = self.live_account()
        mine = self.own_articles(account) if account else []
        if account is None or not mine:
            return
        article = self.random.choice(mine)
        article.state = State.DELETING
        reply = await self.call(
            "delete_article",
            "DELETE",
            f"/articles/{article.id}",
            lambda s: s == 204,
            headers=self.auth(account),
        )
        article.state = State.DELETED if reply is None or reply.status_code == 204 else State.LIVE


async def drive(base_url: str, workers: int, seconds: float, ledger: Ledger, stats: Stats) -> None:
    """`workers` clients, each with its own accounts, for `seconds`."""
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
        hashing = asyncio.Semaphore(HASHING_IN_FLIGHT)
        crew = [Worker(client, ledger, stats, i, hashing) for i in range(workers)]
        until = time.monotonic() + seconds
        await asyncio.gather(*(worker.run(until) for worker in crew))
