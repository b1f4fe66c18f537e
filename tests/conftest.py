"""Fixtures every kind of test shares: one real PostgreSQL per test session."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack import bootstrap, postgres


@dataclass(frozen=True)
class Database:
    """A throwaway cluster with the roles and schemas of the real stack."""

    cluster: postgres.LocalPostgres
    urls: dict[str, str]  # service name ("auth", "articles") -> its role's asyncpg URL

    @property
    def superuser_url(self) -> str:
        return self.cluster.superuser_url(bootstrap.DATABASE)


@pytest.fixture(scope="session")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    cluster = postgres.LocalPostgres(Path(tmp_path_factory.mktemp("pg")), postgres.free_port())
    cluster.start()
    passwords = {item.role: secrets.token_urlsafe(16) for item in bootstrap.ROLES}
    bootstrap.bootstrap(cluster.superuser_url(), passwords)
    urls = {
        item.schema: bootstrap.service_url(item.role, passwords[item.role], cluster.port)
        for item in bootstrap.ROLES
    }
    try:
        yield Database(cluster, urls)
    finally:
        cluster.stop("immediate")
