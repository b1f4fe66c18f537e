"""The compose stack's one-shot set-up: roles and schemas, migrations, the signing key.

Reads BLOG_PG_SUPERUSER_URL (postgresql://postgres:...@postgres:5432/postgres),
AUTH_DATABASE_URL and ARTICLES_DATABASE_URL (each service's own role and password),
AUTH_KEYS_DIR, and BLOG_PG_WAIT_SECONDS (how long PostgreSQL may take to accept
connections; default 60). Idempotent, like `make run`'s set-up, which uses the same
functions; a Kubernetes migrations Job runs it with the same variables.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import asyncpg

from auth_service.keys import ensure_key
from devstack import bootstrap, migrate


async def _wait_for_database(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            connection = await asyncpg.connect(url, timeout=5)
        # Not up yet (refused, no DNS name yet, timed out) or still starting; a wrong
        # password or a missing database fail at once.
        except (OSError, asyncpg.CannotConnectNowError) as error:
            if time.monotonic() >= deadline:
                sys.exit(f"PostgreSQL did not accept connections within {seconds:.0f} s: {error}")
            await asyncio.sleep(1)
        else:
            await connection.close()
            return


def wait_for_database(url: str, seconds: float) -> None:
    """Return once PostgreSQL accepts a connection: a set-up step may start beside it."""
    asyncio.run(_wait_for_database(url, seconds))


def main() -> int:
    urls = {service: os.environ[f"{service.upper()}_DATABASE_URL"] for service in migrate.SERVICES}
    passwords = {}
    for item in bootstrap.ROLES:
        parts = urlsplit(urls[item.schema])
        if parts.username != item.role or not parts.password:
            sys.exit(f"{item.schema.upper()}_DATABASE_URL must log in as {item.role}")
        passwords[item.role] = unquote(parts.password)
    superuser_url = os.environ["BLOG_PG_SUPERUSER_URL"]
    wait_for_database(superuser_url, float(os.environ.get("BLOG_PG_WAIT_SECONDS", "60")))
    bootstrap.bootstrap(superuser_url, passwords)
    for service in migrate.SERVICES:
        migrate.upgrade(service, urls[service])
    kid = ensure_key(Path(os.environ.get("AUTH_KEYS_DIR", "/keys")))
    print(f"database ready, migrations applied, signing key {kid}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
