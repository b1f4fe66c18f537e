"""Fixtures every kind of test shares: one real PostgreSQL per test session."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from auth_service.config import Settings as AuthSettings
from devstack import bootstrap, postgres

# Tests fork (initdb, pg_ctl) while in-process servers hold open gRPC streams (the article
# service's feed consumer). gRPC core's fork handlers then crash the child now and then;
# the services themselves never fork once gRPC is running (workers fork before).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")


@dataclass(frozen=True)
class Database:
    """A throwaway cluster with the roles and schemas of the real stack."""

    cluster: postgres.LocalPostgres
    urls: dict[str, str]  # service name ("auth", "articles") -> its role's asyncpg URL

    @property
    def superuser_url(self) -> str:
        return self.cluster.superuser_url(bootstrap.DATABASE)


def start_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """Start a cluster with the stack's roles and schemas; stop it when the caller is done."""
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


@pytest.fixture(scope="session")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    yield from start_database(tmp_path_factory)


def in_process_auth_settings(url: str, keys_dir: Path, **overrides: Any) -> AuthSettings:
    """An auth server for tests: one in-process worker on a free port, quick to stop."""
    values: dict[str, Any] = {
        "database_url": url,
        "port": 0,
        "worker_base_port": 0,
        "workers": 1,
        "keys_dir": keys_dir,
        "shutdown_grace_seconds": 0.5,
        **overrides,
    }
    return AuthSettings(**values)
