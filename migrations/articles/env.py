"""Alembic environment of the article service: its schema "articles" only, over asyncpg."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from article_service.db.tables import SCHEMA, metadata

config = context.config


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("ARTICLES_DATABASE_URL")
    if not url:
        raise RuntimeError("set sqlalchemy.url or ARTICLES_DATABASE_URL")
    return url


def _include_name(name: str | None, type_: str, _parents: object) -> bool:
    # Autogenerate looks at our schema only, never at the auth service's.
    return name == SCHEMA if type_ == "schema" else True


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=SCHEMA,
        include_schemas=True,
        include_name=_include_name,
        compare_type=True,
        compare_server_default=True,
    )


def _migrate(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    # With "articles" first on the role's search_path, reflection would report our tables
    # under the default schema (None) and autogenerate would try to re-create them.
    engine = create_async_engine(
        _url(), connect_args={"server_settings": {"search_path": "public"}}
    )
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_migrate)
    finally:
        await engine.dispose()


def run_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=metadata,
        version_table_schema=SCHEMA,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    asyncio.run(_run_online())
