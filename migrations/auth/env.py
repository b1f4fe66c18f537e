"""Alembic environment of the auth service: schema "auth" only, version table inside it."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from auth_service.db.tables import SCHEMA, include_name, metadata

config = context.config


CONFIGURE_OPTIONS: dict[str, object] = {
    "target_metadata": metadata,
    "version_table_schema": SCHEMA,
    "include_schemas": True,
    "include_name": include_name,
}


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("AUTH_DATABASE_URL")
    if not url:
        raise RuntimeError("set sqlalchemy.url or AUTH_DATABASE_URL")
    return url


def run_offline() -> None:
    context.configure(url=_url(), literal_binds=True, **CONFIGURE_OPTIONS)  # type: ignore[arg-type]
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, **CONFIGURE_OPTIONS)  # type: ignore[arg-type]
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    engine = create_async_engine(_url(), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    asyncio.run(run_online())
