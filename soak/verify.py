"""The soak's loss check: what PostgreSQL holds afterwards against what the stack
acknowledged (the Ledger), read as the superuser once the account feed had its grace."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import asyncpg

from soak.traffic import ACCOUNT_PREFIX, TITLE_PREFIX, Ledger, State

CLEANUP_GRACE_SECONDS = 30.0


@dataclass
class Verdict:
    lost: list[str] = field(default_factory=list)
    unexpected_rows: list[str] = field(default_factory=list)
    recovered: int = 0
    resurrected: list[str] = field(default_factory=list)
    not_cleaned: list[str] = field(default_factory=list)
    checked_articles: int = 0
    checked_accounts: int = 0

    @property
    def ok(self) -> bool:
        return not (self.lost or self.unexpected_rows or self.resurrected or self.not_cleaned)


async def _rows(url: str) -> tuple[dict[int, asyncpg.Record], set[int], set[int]]:
    """The soak's articles and accounts (named soak_*), and every deleted user id."""
    conn = await asyncpg.connect(url)
    try:
        users = {
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM auth.users WHERE username LIKE $1", f"{ACCOUNT_PREFIX}%"
            )
        }
        articles = {
            r["id"]: r
            for r in await conn.fetch(
                "SELECT id, author_id, title, content, published FROM articles.articles"
                " WHERE title LIKE $1",
                f"{TITLE_PREFIX}%",
            )
        }
        deleted = {
            r["user_id"] for r in await conn.fetch("SELECT user_id FROM articles.deleted_users")
        }
    finally:
        await conn.close()
    return articles, users, deleted


async def verify(url: str, ledger: Ledger) -> Verdict:
    """Compare what PostgreSQL holds (`url`: as its superuser) with what was acknowledged."""
    gone = {a.id for a in ledger.accounts.values() if a.state is State.DELETED}
    deadline = time.monotonic() + CLEANUP_GRACE_SECONDS
    while True:  # the account feed removes deleted authors' articles asynchronously
        articles, users, deleted_users = await _rows(url)
        leftovers = [r for r in articles.values() if r["author_id"] in gone]
        if not leftovers or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    verdict = Verdict()
    verdict.not_cleaned = [f"article {r['id']} of deleted user {r['author_id']}" for r in leftovers]
    for article in ledger.articles.values():
        row = articles.get(article.id)
        if article.author.state is not State.LIVE:
            continue  # its author's deletion (sent) removes it; checked above
        if article.state is State.DELETED:
            if row is not None:
                verdict.resurrected.append(f"article {article.id} deleted (204) but still there")
            continue
        verdict.checked_articles += 1
        if row is None:
            verdict.lost.append(f"article {article.id} acknowledged, missing")
        elif row["content"] != article.content or row["published"] != article.published:
            verdict.lost.append(f"article {article.id} differs from its last acknowledged state")
        elif article.title != "?" and row["title"] != article.title:
            verdict.lost.append(
                f"article {article.id}: title {row['title']!r} != {article.title!r}"
            )
    known = set(ledger.articles)
    maybe = list(ledger.indeterminate_creates)
    for row in articles.values():
        if row["id"] in known or row["author_id"] in gone:
            continue
        if (row["author_id"], row["title"]) in maybe:
            maybe.remove((row["author_id"], row["title"]))
            verdict.recovered += 1
        else:
            verdict.unexpected_rows.append(f"article {row['id']} nobody was told of")
    for account in ledger.accounts.values():
        if account.state is State.LIVE:
            verdict.checked_accounts += 1
            if account.id not in users:
                verdict.lost.append(f"account {account.id} acknowledged, missing")
        elif account.state is State.DELETED and account.id in users:
            verdict.resurrected.append(f"account {account.id} deleted (204) but still there")
    unknown_users = users - set(ledger.accounts)
    if len(unknown_users) > len(ledger.indeterminate_registrations):
        verdict.unexpected_rows.append(f"{len(unknown_users)} accounts nobody was told of")
    missing_tombstones = gone - deleted_users
    verdict.not_cleaned += [f"user {uid} not in deleted_users" for uid in missing_tombstones]
    return verdict
