"""A stack's database, ready for the services: the embedded PostgreSQL in `data_dir`/postgres,
one role and schema per service (passwords kept in `data_dir`), every migration applied.

What `make run` does before it starts a service, and what the fault suite does for the
stack it hurts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from devstack import bootstrap, migrate
from devstack.postgres import LocalPostgres
from devstack.settings import role_passwords


@dataclass(frozen=True)
class EmbeddedDatabase:
    cluster: LocalPostgres
    urls: dict[str, str]  # service ("auth", "articles") -> the URL its role connects with


def service_urls(data_dir: Path, port: int) -> dict[str, str]:
    """Each service's database URL (as its own role) for the cluster of `data_dir`."""
    passwords = role_passwords(data_dir)
    return {
        item.schema: bootstrap.service_url(item.role, passwords[item.role], port)
        for item in bootstrap.ROLES
    }


def start_embedded(data_dir: Path, port: int) -> EmbeddedDatabase:
    """Start (initialising on first use) the cluster of `data_dir` on 127.0.0.1:`port`,
    with the service roles and schemas; migrations are `migrate_all`'s job."""
    cluster = LocalPostgres(data_dir / "postgres", port)
    cluster.start()
    bootstrap.bootstrap(cluster.superuser_url(), role_passwords(data_dir))
    return EmbeddedDatabase(cluster, service_urls(data_dir, port))


def migrate_all(urls: Mapping[str, str]) -> None:
    """Every service's Alembic history up to head, each as its own role."""
    for service in migrate.SERVICES:
        migrate.upgrade(service, urls[service])
