"""The article service's Alembic history on real PostgreSQL: idempotent, reversible, no drift."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from article_service.db.tables import SCHEMA, metadata
from devstack import migrate


async def _scalar(url: str, sql: str) -> Any:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(text(sql))).scalar()
    finally:
        await engine.dispose()


async def test_upgrade_head_twice_changes_nothing(articles_url):
    await asyncio.to_thread(migrate.upgrade, "articles", articles_url)
    version = await _scalar(articles_url, "SELECT version_num FROM articles.alembic_version")
    assert version == "0005"


async def test_downgrade_to_base_and_upgrade_again(articles_url):
    await asyncio.to_thread(migrate.downgrade, "articles", articles_url, "base")
    try:
        assert await _scalar(articles_url, "SELECT to_regclass('articles.articles')") is None
    finally:
        await asyncio.to_thread(migrate.upgrade, "articles", articles_url)
    assert await _scalar(articles_url, "SELECT to_regclass('articles.articles')") is not None


def _include_name(name: str | None, type_: str, _parents: object) -> bool:
    return name == SCHEMA if type_ == "schema" else True


def _diffs(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "include_schemas": True,
            "include_name": _include_name,
            "compare_type": True,
            "compare_server_default": True,
            "version_table_schema": SCHEMA,
        },
    )
    return list(compare_metadata(context, metadata))


async def test_tables_and_migrations_have_not_drifted(articles_url):
    # As in env.py: "articles" off the search_path, so reflection names the schema.
    engine = create_async_engine(
        articles_url, connect_args={"server_settings": {"search_path": "public"}}
    )
    try:
        async with engine.connect() as connection:
            diffs = await connection.run_sync(_diffs)
    finally:
        await engine.dispose()
    assert diffs == []


async def test_the_articles_role_cannot_read_the_auth_schema(articles_url):
    engine = create_async_engine(articles_url)
    try:
        async with engine.connect() as connection:
            allowed = await connection.scalar(text("SELECT has_schema_privilege('auth', 'USAGE')"))
    finally:
        await engine.dispose()
    assert allowed is False
