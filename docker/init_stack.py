"""The compose stack's one-shot set-up: roles and schemas, migrations, the signing key.

Reads BLOG_PG_SUPERUSER_URL (postgresql://postgres:...@postgres:5432/postgres),
AUTH_DATABASE_URL and ARTICLES_DATABASE_URL (each service's own role and password) and
AUTH_KEYS_DIR. Idempotent, like `make run`'s set-up, which uses the same functions.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

from auth_service.keys import ensure_key
from devstack import bootstrap, migrate


def main() -> int:
    urls = {service: os.environ[f"{service.upper()}_DATABASE_URL"] for service in migrate.SERVICES}
    passwords = {}
    for item in bootstrap.ROLES:
        parts = urlsplit(urls[item.schema])
        if parts.username != item.role or not parts.password:
            sys.exit(f"{item.schema.upper()}_DATABASE_URL must log in as {item.role}")
        passwords[item.role] = unquote(parts.password)
    bootstrap.bootstrap(os.environ["BLOG_PG_SUPERUSER_URL"], passwords)
    for service in migrate.SERVICES:
        migrate.upgrade(service, urls[service])
    kid = ensure_key(Path(os.environ.get("AUTH_KEYS_DIR", "/keys")))
    print(f"database ready, migrations applied, signing key {kid}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
