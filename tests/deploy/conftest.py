"""Each overlay rendered once by the real kustomize, and Secrets made by deploy.secrets."""

from __future__ import annotations

import pytest

from deploy import secrets
from tests.deploy.kube import DEPLOY, NAMESPACES, OVERLAYS, Manifest, kustomize


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[Manifest]]:
    return {name: kustomize(DEPLOY / "overlays" / name) for name in OVERLAYS}


@pytest.fixture(scope="session")
def overlay_secrets() -> dict[str, list[Manifest]]:
    """What `python -m deploy.secrets all` makes for each overlay's database choice."""
    return {
        "dev": secrets.all_secrets(NAMESPACES["dev"], "postgres", dev_postgres=True, cnpg=False),
        "prod": secrets.all_secrets(NAMESPACES["prod"], "192.0.2.10", False, False),
        "prod-cnpg": secrets.all_secrets(NAMESPACES["prod-cnpg"], "blog-db-rw", False, True),
    }


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name
