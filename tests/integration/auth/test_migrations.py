"""The auth Alembic history: repeatable, reversible, and identical to the table definitions."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from auth_service.db.tables import SCHEMA, include_name, metadata
from devstack import migrate


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda c: inspect(c).get_table_names(SCHEMA)))
    finally:
        await engine.dispose()


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "include_schemas": True,
            "include_name": include_name,
            "version_table_schema": SCHEMA,
        },
    )
    return list(compare_metadata(context, metadata))


def test_upgrade_head_twice_is_idempotent(scratch_url: str) -> None:
    migrate.upgrade("auth", scratch_url)
    migrate.upgrade("auth", scratch_url)


async def test_downgrade_to_base_and_upgrade_again(scratch_url: str) -> None:
    await _run_in_thread(migrate.upgrade, "auth", scratch_url)
    await _run_in_thread(migrate.downgrade, "auth", scratch_url)
    assert await _tables(scratch_url) == {"alembic_version"}
    await _run_in_thread(migrate.upgrade, "auth", scratch_url)
    assert await _tables(scratch_url) == {
        "alembic_version",
        "users",
        "login_failures",
        "user_events",
        "refresh_tokens",
    }


async def test_migrations_and_table_definitions_have_not_drifted(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        assert await connection.run_sync(_diff) == []


async def _run_in_thread(function: Any, *args: Any) -> None:
    import asyncio

    # Alembic's env.py runs its own event loop, which cannot nest inside pytest's.
    await asyncio.to_thread(function, *args)
