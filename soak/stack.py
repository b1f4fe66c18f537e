"""The whole stack as `make run` starts it, on free ports in a throw-away data dir.

`python -m devstack run` runs as a child process with its settings overridden through the
environment (as bench/environment.py does); closing the stack sends it SIGTERM, which
stops the services, Envoy and PostgreSQL in order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.environment import READY, _wait_for_text, _wait_http
from devstack.bootstrap import DATABASE
from devstack.postgres import free_port_block

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class RunningStack:
    workdir: Path
    process: subprocess.Popen[bytes]
    gateway_port: int
    pg_port: int
    log: Path

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def superuser_url(self) -> str:
        """PostgreSQL as its superuser (to check what the services stored)."""
        password = (self.workdir / "data" / "postgres" / "superuser-password").read_text().strip()
        return f"postgresql://postgres:{password}@127.0.0.1:{self.pg_port}/{DATABASE}"


def stack_env(workdir: Path, workers: int, base: int, extra: Mapping[str, str]) -> dict[str, str]:
    """The environment of `python -m devstack run`: every port and path overridden."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AUTH_", "ARTICLES_", "GATEWAY_", "BLOG_"))
    }
    env.update(
        BLOG_DATA_DIR=str(workdir / "data"),
        BLOG_PG_PORT=str(base),
        AUTH_PORT=str(base + 1),
        AUTH_WORKER_BASE_PORT=str(base + 2),
        AUTH_WORKERS=str(workers),
        ARTICLES_PORT=str(base + 2 + workers),
        ARTICLES_WORKER_BASE_PORT=str(base + 3 + workers),
        ARTICLES_WORKERS=str(workers),
        ARTICLES_AUTH_ADDRESS=f"127.0.0.1:{base + 1}",
        GATEWAY_PORT=str(base + 3 + 2 * workers),
        GATEWAY_ADMIN_PORT=str(base + 4 + 2 * workers),
        GATEWAY_ACCESS_LOG_PATH=str(workdir / "gateway-access.log"),
    )
    env.update(extra)
    return env


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        # devstack did not stop in time: end its whole process group (ours alone).
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def stop_on_sigterm() -> None:
    """Make SIGTERM unwind like Ctrl-C, so a stack started here is stopped, not orphaned."""

    def on_sigterm(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)


@contextmanager
def running_stack(
    workers: int = 2, extra_env: Mapping[str, str] | None = None, keep: Path | None = None
) -> Iterator[RunningStack]:
    """Start the stack, yield it once Envoy is up, stop it (and everything it started)."""
    with ExitStack() as exit_stack:
        if keep is None:
            workdir = Path(exit_stack.enter_context(tempfile.TemporaryDirectory(prefix="blog-")))
        else:
            workdir = keep
            workdir.mkdir(parents=True, exist_ok=True)
        base = free_port_block(5 + 2 * workers)
        env = stack_env(workdir, workers, base, extra_env or {})
        log = workdir / "stack.log"
        out = exit_stack.enter_context(log.open("ab"))
        process = subprocess.Popen(
            [sys.executable, "-m", "devstack", "run"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: a last-resort kill reaches its children
        )
        exit_stack.callback(_stop, process)
        _wait_for_text(log, READY, process, timeout=180)
        started = RunningStack(
            workdir, process, int(env["GATEWAY_PORT"]), int(env["BLOG_PG_PORT"]), log
        )
        # Envoy is up before its first health checks pass: wait for a real answer.
        _wait_http(f"{started.gateway_url}/articles?limit=1", process, timeout=30)
        yield started
