"""Create the database, one role per service and one schema per service.

Each service's role owns its own schema and has no privileges on the other one, so a
service cannot read or write the other's tables even by mistake. Idempotent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg

DATABASE = "blog"


@dataclass(frozen=True)
class ServiceRole:
    role: str
    schema: str


ROLES = (ServiceRole("blog_auth", "auth"), ServiceRole("blog_articles", "articles"))


async def ensure_role(conn: asyncpg.Connection, role: str, password: str) -> None:
    """A login role with this password, made or updated (as a superuser's `conn`)."""
    exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
    verb = "ALTER" if exists else "CREATE"
    # The role names are our constants; format() quotes the name and escapes the password.
    sql = await conn.fetchval(
        "SELECT format('%s ROLE %I LOGIN PASSWORD %L', $1::text, $2::text, $3::text)",
        verb,
        role,
        password,
    )
    await conn.execute(sql)


async def _bootstrap(superuser_dsn: str, passwords: dict[str, str]) -> None:
    conn = await asyncpg.connect(superuser_dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
            await conn.execute(f'CREATE DATABASE "{DATABASE}"')
        for item in ROLES:
            await ensure_role(conn, item.role, passwords[item.role])
    finally:
        await conn.close()
    db_dsn = superuser_dsn.rsplit("/", 1)[0] + f"/{DATABASE}"
    conn = await asyncpg.connect(db_dsn)
    try:
        await conn.execute(f'REVOKE ALL ON DATABASE "{DATABASE}" FROM PUBLIC')
        await conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        for item in ROLES:
            await conn.execute(f'GRANT CONNECT ON DATABASE "{DATABASE}" TO {item.role}')
            await conn.execute(
                f"CREATE SCHEMA IF NOT EXISTS {item.schema} AUTHORIZATION {item.role}"
            )
            await conn.execute(f"ALTER ROLE {item.role} SET search_path = {item.schema}")
    finally:
        await conn.close()


def bootstrap(superuser_dsn: str, passwords: dict[str, str]) -> None:
    asyncio.run(_bootstrap(superuser_dsn, passwords))


def service_url(role: str, password: str, port: int, host: str = "127.0.0.1") -> str:
    return f"postgresql+asyncpg://{role}:{password}@{host}:{port}/{DATABASE}"
