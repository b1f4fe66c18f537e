"""The embedded PostgreSQL as `make run` uses it: a data folder relative to the checkout."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from devstack import postgres


async def test_a_relative_data_folder_starts_and_keeps_its_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cluster = postgres.LocalPostgres(Path(".data") / "postgres", postgres.free_port())
    cluster.start()
    try:
        conn = await asyncpg.connect(cluster.superuser_url())
        await conn.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)")
        await conn.close()
        cluster.stop()
        cluster.start()
        conn = await asyncpg.connect(cluster.superuser_url())
        assert await conn.fetchval("SELECT x FROM kept") == 7
        await conn.close()
    finally:
        cluster.stop("immediate")
    assert (tmp_path / ".data" / "postgres" / "pgdata" / "PG_VERSION").exists()
