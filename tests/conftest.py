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
from devstack import bootstrap, ports, postgres

# Tests fork (initdb, pg_ctl) while in-process servers hold open gRPC streams (the article
# service's feed consumer). gRPC core's fork handlers then crash the child now and then;
# the services themselves never fork once gRPC is running (workers fork before).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")


# Every test has one kind (`make test-<kind>` runs it, `pytest -m <kind>` selects it): its
# folder's, unless its module says otherwise with `pytestmark`. A folder that is not listed
# here fails the collection, so a new one must say what kind its tests are. Why some folders
# are named by subject rather than kind: tests/README.md.
KIND_OF_FOLDER = {
    "unit": "unit",
    "gateway": "unit",  # rendered Envoy config and OpenAPI; the live-Envoy module is e2e
    "deploy": "unit",  # rendered manifests, validated offline
    "integration": "integration",
    "service": "service",
    "e2e": "e2e",
    "stack": "stack",
    "observability": "stack",  # `make run` scraped by a real Prometheus; rules are unit
    "bench": "bench",
    "faults": "faults",
    "containers": "containers",
}
KINDS = frozenset(KIND_OF_FOLDER.values())
TESTS = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(item.get_closest_marker(kind) for kind in KINDS):
            continue
        folder = item.path.relative_to(TESTS).parts[0]
        if folder not in KIND_OF_FOLDER:
            raise pytest.UsageError(f"tests/{folder}: add its kind to KIND_OF_FOLDER")
        item.add_marker(KIND_OF_FOLDER[folder])


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
    cluster = postgres.LocalPostgres(Path(tmp_path_factory.mktemp("pg")), ports.free_port())
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
