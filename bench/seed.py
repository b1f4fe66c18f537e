"""The same data in both systems: users through each one's public API (real registrations,
real tokens), articles with PostgreSQL COPY straight into each one's table, so a million
of them take seconds, not the hours a million API calls would.

Seeded articles are published, newest last (created_at one second apart, ending a minute
ago); `top_up` adds older ones below them, so the newest page stays the same at every scale.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import httpx
from blog.auth.v1 import auth_pb2, auth_pb2_grpc

PASSWORD = "bench-password-1"  # noqa: S105 - a throw-away benchmark account
CONTENT = "Benchmark article body. " * 20
COLUMNS = ("title", "content", "published", "author_id", "created_at", "updated_at")
CHUNK = 50_000
OURS_TABLE = ("articles", "articles")  # (schema, table)
PEER_TABLE = ("peer", "articles")


@dataclass
class Seeded:
    tokens: list[str]
    user_ids: list[int]
    table: tuple[str, str]
    first_id: int = 0  # the newest seeded article (what GET reads)
    last_seeded_id: int = 0  # articles above this id were made by the bench's creates
    count: int = 0
    newest: datetime | None = None  # created_at of article 0; every COPY counts back from it


def user(index: int) -> tuple[str, str]:
    return f"bench_user{index}@example.com", f"bench_user{index}"


def article(index: int) -> tuple[str, str]:
    return f"Article {index}", CONTENT


async def register_ours(auth_target: str, users: int) -> Seeded:
    async with grpc.aio.insecure_channel(auth_target) as channel:
        auth = auth_pb2_grpc.AuthServiceStub(channel)
        tokens, ids = [], []
        for index in range(users):
            email, name = user(index)
            made = await auth.Register(
                auth_pb2.RegisterRequest(email=email, username=name, password=PASSWORD)
            )
            reply = await auth.Login(auth_pb2.LoginRequest(username=name, password=PASSWORD))
            tokens.append(reply.access_token)
            ids.append(int(made.id))
    return Seeded(tokens, ids, OURS_TABLE)


async def register_peer(base_url: str, users: int) -> Seeded:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        tokens, ids = [], []
        for index in range(users):
            email, name = user(index)
            reply = await http.post(
                "/auth/register", json={"email": email, "username": name, "password": PASSWORD}
            )
            reply.raise_for_status()
            ids.append(int(reply.json()["id"]))
            login = await http.post("/auth/login", data={"username": name, "password": PASSWORD})
            login.raise_for_status()
            tokens.append(str(login.json()["access_token"]))
    return Seeded(tokens, ids, PEER_TABLE)


async def _rows(
    start: int, count: int, newest: datetime, author_ids: list[int]
) -> AsyncIterator[tuple[object, ...]]:
    """Articles start .. start+count-1 (index 0 the newest), oldest first."""
    for index in range(start + count - 1, start - 1, -1):
        title, content = article(index)
        created = newest - timedelta(seconds=index)
        yield (title, content, True, author_ids[index % len(author_ids)], created, created)
        if index % CHUNK == 0:
            await asyncio.sleep(0)


async def copy_articles(url: str, seeded: Seeded, total: int) -> None:
    """Bring the seeded articles of `seeded.table` to `total` with one COPY, then ANALYZE."""
    schema, table = seeded.table
    if seeded.newest is None:
        seeded.newest = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    newest = seeded.newest
    connection = await asyncpg.connect(url)
    try:
        if total > seeded.count:
            await connection.copy_records_to_table(
                table,
                schema_name=schema,
                columns=COLUMNS,
                records=_rows(seeded.count, total - seeded.count, newest, seeded.user_ids),
            )
        await connection.execute(f"ANALYZE {schema}.{table}")
        seeded.count = max(total, seeded.count)
        seeded.last_seeded_id = int(
            await connection.fetchval(f"SELECT max(id) FROM {schema}.{table}")  # noqa: S608
        )
        if not seeded.first_id:
            seeded.first_id = seeded.last_seeded_id  # the first COPY's newest is its last row
    finally:
        await connection.close()


async def drop_created(url: str, seeded: Seeded) -> int:
    """Delete what the bench's create targets added, so every scale holds what it says."""
    schema, table = seeded.table
    connection = await asyncpg.connect(url)
    try:
        done = await connection.execute(
            f"DELETE FROM {schema}.{table} WHERE id > $1",  # noqa: S608 - constant names
            seeded.last_seeded_id,
        )
    finally:
        await connection.close()
    return int(done.split()[-1])


async def deep_position(url: str, seeded: Seeded, skip: int) -> tuple[datetime, int]:
    """(created_at, id) of the article `skip` places down the newest-first listing."""
    schema, table = seeded.table
    connection = await asyncpg.connect(url)
    try:
        row = await connection.fetchrow(
            f"SELECT created_at, id FROM {schema}.{table} WHERE published "  # noqa: S608
            "ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1",
            skip - 1,
        )
    finally:
        await connection.close()
    assert row is not None, f"fewer than {skip} articles"
    return row["created_at"], row["id"]


async def explain(url: str, sql: str, *args: object) -> str:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}", *args)
    finally:
        await connection.close()
    return "\n".join(row[0] for row in rows)
