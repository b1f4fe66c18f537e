"""What the database holds afterwards: read as the superuser, never through the services."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class ArticleRow:
    id: int
    request_id: str | None
    title: str
    author_id: int
    version: int


class Truth:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn

    async def _fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self._dsn, timeout=10)
        try:
            return list(await conn.fetch(sql, *args, timeout=30))
        finally:
            await conn.close()

    async def articles(self, title_prefix: str) -> list[ArticleRow]:
        rows = await self._fetch(
            "SELECT id, request_id::text AS request_id, title, author_id, version"
            " FROM articles.articles WHERE starts_with(title, $1)",
            title_prefix,
        )
        return [ArticleRow(**dict(r)) for r in rows]

    async def article(self, article_id: int) -> ArticleRow | None:
        rows = await self._fetch(
            "SELECT id, request_id::text AS request_id, title, author_id, version"
            " FROM articles.articles WHERE id = $1",
            article_id,
        )
        return ArticleRow(**dict(rows[0])) if rows else None

    async def articles_of(self, author_ids: list[int]) -> Counter[int]:
        rows = await self._fetch(
            "SELECT author_id, count(*) AS n FROM articles.articles"
            " WHERE author_id = ANY($1::int[]) GROUP BY author_id",
            author_ids,
        )
        return Counter({r["author_id"]: r["n"] for r in rows})

    async def users(self, email_suffix: str) -> Counter[str]:
        """Lower-cased emails ending in `email_suffix`, with how many rows each has."""
        rows = await self._fetch(
            "SELECT lower(email) AS email, count(*) AS n FROM auth.users"
            " WHERE lower(email) LIKE '%' || $1 GROUP BY 1",
            email_suffix.lower(),
        )
        return Counter({r["email"]: r["n"] for r in rows})

    async def users_by_id(self, ids: list[int]) -> set[int]:
        rows = await self._fetch("SELECT id FROM auth.users WHERE id = ANY($1::int[])", ids)
        return {r["id"] for r in rows}

    async def users_without_created_event(self, email_suffix: str) -> list[str]:
        rows = await self._fetch(
            "SELECT u.email FROM auth.users u WHERE lower(u.email) LIKE '%' || $1"
            " AND NOT EXISTS (SELECT 1 FROM auth.user_events e"
            "   WHERE e.user_id = u.id AND e.kind = 'created')",
            email_suffix.lower(),
        )
        return [r["email"] for r in rows]

    async def deleted_recorded(self, ids: list[int]) -> set[int]:
        rows = await self._fetch(
            "SELECT user_id FROM articles.deleted_users WHERE user_id = ANY($1::int[])", ids
        )
        return {r["user_id"] for r in rows}

    async def authors(self, ids: list[int]) -> set[int]:
        rows = await self._fetch(
            "SELECT user_id FROM articles.authors WHERE user_id = ANY($1::int[])", ids
        )
        return {r["user_id"] for r in rows}

    async def feed_caught_up(self, within: float) -> float | None:
        """Seconds until the article service's cursor reached the newest event; None if not
        `within` that many seconds."""
        started = time.monotonic()
        while time.monotonic() - started < within:
            rows = await self._fetch(
                "SELECT (SELECT coalesce(max(seq), 0) FROM auth.user_events) AS head,"
                " (SELECT coalesce(max(seq), 0) FROM articles.event_cursor) AS cursor"
            )
            if rows[0]["cursor"] >= rows[0]["head"]:
                return time.monotonic() - started
            await asyncio.sleep(0.2)
        return None
