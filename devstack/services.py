"""Starting one service (auth or articles) as a process of its own with N workers on given
ports: what the launcher's replicas, the fault suite's services and the bench's extra
article services share.

A service listens on its shared port and forks `workers` workers, each also on a port of
its own: `port + 1 .. port + workers` here, so a stack's ports are one block.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
PREFIXES = ("AUTH_", "ARTICLES_", "GATEWAY_", "BLOG_")


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # the gateway cluster, the schema, and the word `scale` takes
    label: str
    module: str
    prefix: str  # of its settings: AUTH, ARTICLES
    default_port: str
    default_metrics_port: str


AUTH = ServiceSpec("auth", "Auth service", "auth_service", "AUTH", "50051", "9461")
ARTICLES = ServiceSpec(
    "articles", "Article service", "article_service", "ARTICLES", "50052", "9462"
)
SERVICES = (AUTH, ARTICLES)


def clean_env(*prefixes: str) -> dict[str, str]:
    """This process's environment without the caller's own settings of a stack (AUTH_,
    ARTICLES_, GATEWAY_, BLOG_ by default), so a harness's stack is what it says it is."""
    dropped = prefixes or PREFIXES
    return {k: v for k, v in os.environ.items() if not k.startswith(dropped)}


def settings(
    spec: ServiceSpec, *, port: int, workers: int, database_url: str, **more: str
) -> dict[str, str]:
    """The environment variables of `spec` on `port` with `workers` workers right after it;
    `more` are further settings by their name without the prefix (keys_dir=...)."""
    named = {f"{spec.prefix}_{key.upper()}": value for key, value in more.items()}
    return {
        f"{spec.prefix}_DATABASE_URL": database_url,
        f"{spec.prefix}_PORT": str(port),
        f"{spec.prefix}_WORKER_BASE_PORT": str(port + 1),
        f"{spec.prefix}_WORKERS": str(workers),
        **named,
    }


def worker_targets(spec: ServiceSpec, env: Mapping[str, str], host: str = "127.0.0.1") -> list[str]:
    """Every worker's own address, host:port, from settings such as `settings` makes."""
    base = int(env[f"{spec.prefix}_WORKER_BASE_PORT"])
    return [f"{host}:{base + i}" for i in range(int(env[f"{spec.prefix}_WORKERS"]))]


def spawn(
    spec: ServiceSpec,
    env: Mapping[str, str],
    *,
    log: IO[bytes] | None = None,
    own_group: bool = False,
) -> subprocess.Popen[bytes]:
    """`python -m <module>` with `env`; its output to `log` (else inherited). `own_group`:
    a process group of its own, so one killpg reaches the service and every worker."""
    return subprocess.Popen(
        [sys.executable, "-m", spec.module],
        env=dict(env),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT if log is not None else None,
        start_new_session=own_group,
    )
