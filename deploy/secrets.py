"""`python -m deploy.secrets`: the Secrets the manifests name, generated fresh; pipe to kubectl.

    python -m deploy.secrets all --namespace blog-dev --dev-postgres | kubectl apply -f -
    python -m deploy.secrets all --namespace blog --database-host db.internal > secrets.yaml
    python -m deploy.secrets new-key    # a merge patch adding one signing key; kid on stderr

`all` makes blog-database (each service's URL, with a new random password for its role),
auth-signing-keys (one Ed25519 key and `active-kid`), and with --dev-postgres the dev
database's superuser (blog-db-superuser), with --cnpg the CloudNativePG role passwords
(blog-db-auth, blog-db-articles). Nothing is written to disk; keep the output safe.
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from auth_service.keys import generate_key
from devstack.bootstrap import ROLES, service_url

PORT = 5432
DEV_POSTGRES_HOST = "postgres"  # the dev overlay's Service
CNPG_HOST = "blog-db-rw"  # the prod-cnpg Cluster's read-write Service


def secret(name: str, namespace: str, data: dict[str, str], kind: str = "Opaque") -> dict[str, Any]:
    encoded = {key: base64.b64encode(value.encode()).decode("ascii") for key, value in data.items()}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "blog-platform"},
        },
        "type": kind,
        "data": encoded,
    }


def new_key() -> tuple[str, str]:
    """A fresh signing key: (kid, PEM), made by the auth service's own key code."""
    with tempfile.TemporaryDirectory() as scratch:
        kid = generate_key(Path(scratch))
        return kid, (Path(scratch) / f"{kid}.pem").read_text()


def all_secrets(namespace: str, host: str, dev_postgres: bool, cnpg: bool) -> list[dict[str, Any]]:
    passwords = {item.role: secrets.token_urlsafe(24) for item in ROLES}
    urls = {
        f"{item.schema}-url": service_url(item.role, passwords[item.role], PORT, host)
        for item in ROLES
    }
    kid, pem = new_key()
    made = [
        secret("blog-database", namespace, urls),
        secret("auth-signing-keys", namespace, {f"{kid}.pem": pem, "active-kid": kid}),
    ]
    if dev_postgres:
        password = secrets.token_urlsafe(24)
        url = f"postgresql://postgres:{password}@{host}:{PORT}/postgres"
        made.append(secret("blog-db-superuser", namespace, {"password": password, "url": url}))
    if cnpg:
        for item in ROLES:
            login = {"username": item.role, "password": passwords[item.role]}
            made.append(
                secret(f"blog-db-{item.schema}", namespace, login, "kubernetes.io/basic-auth")
            )
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.secrets", description=__doc__)
    actions = parser.add_subparsers(dest="action", required=True)
    every = actions.add_parser("all", help="every Secret an overlay needs, as YAML")
    every.add_argument("--namespace", required=True)
    every.add_argument("--database-host", help="default: the in-cluster database's Service")
    every.add_argument("--dev-postgres", action="store_true", help="the dev overlay's database")
    every.add_argument("--cnpg", action="store_true", help="the prod-cnpg overlay's database")
    actions.add_parser("new-key", help="a JSON merge patch adding a signing key")
    args = parser.parse_args(argv)
    if args.action == "new-key":
        kid, pem = new_key()
        print(json.dumps({"data": {f"{kid}.pem": base64.b64encode(pem.encode()).decode()}}))
        print(kid, file=sys.stderr)
        return 0
    if args.dev_postgres and args.cnpg:
        parser.error("--dev-postgres and --cnpg are two different databases")
    host = args.database_host or (CNPG_HOST if args.cnpg else DEV_POSTGRES_HOST)
    made = all_secrets(args.namespace, host, args.dev_postgres, args.cnpg)
    print(yaml.safe_dump_all(made, sort_keys=False), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
