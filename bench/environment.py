"""Start what the bench drives: our stack (`python -m devstack run` on free ports, in a
throw-away data dir), the FastAPI peer (uvicorn) in its own schema, the trivial gRPC server,
and a second Envoy with the same configuration in front of the trivial server.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from devstack import bootstrap
from devstack.postgres import free_port_block

ROOT = Path(__file__).resolve().parent.parent
READY = "The blog stack is running"
PEER_ROLE = "bench_peer"
PEER_SCHEMA = "peer"


@dataclass
class Ports:
    pg: int
    auth: int
    auth_workers: int
    articles: int
    articles_workers: int
    gateway: int
    gateway_admin: int
    peer: int
    trivial: int
    trivial_workers: int
    trivial_gateway: int
    trivial_gateway_admin: int

    @classmethod
    def allocate(cls, workers: int) -> Ports:
        base = free_port_block(10 + 3 * workers)
        return cls(
            pg=base,
            auth=base + 1,
            auth_workers=base + 2,
            articles=base + 2 + workers,
            articles_workers=base + 3 + workers,
            gateway=base + 3 + 2 * workers,
            gateway_admin=base + 4 + 2 * workers,
            peer=base + 5 + 2 * workers,
            trivial=base + 6 + 2 * workers,
            trivial_workers=base + 7 + 2 * workers,
            trivial_gateway=base + 7 + 3 * workers,
            trivial_gateway_admin=base + 8 + 3 * workers,
        )


def _stop(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_for_text(path: Path, text: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if process.poll() is not None:
            break
        time.sleep(0.2)
    tail = path.read_text(errors="replace")[-3000:] if path.exists() else ""
    raise RuntimeError(f"{text!r} did not appear in {path}:\n{tail}")


def _wait_http(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:  # noqa: S310 - our own URL
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


class Environment:
    """Everything running; `close()` stops it all (PostgreSQL last, through devstack)."""

    def __init__(self, workdir: Path, workers: int) -> None:
        self.workdir = workdir
        self.workers = workers
        self.ports = Ports.allocate(workers)
        self.data_dir = workdir / "data"
        self.stack_log = workdir / "stack.log"
        self.peer_secret = secrets.token_urlsafe(32)
        self.peer_password = secrets.token_urlsafe(24)
        self._exit = ExitStack()
        self.pids: list[int] = []  # what the bench started (their trees are what it measures)

    # -- addresses
    @property
    def auth_target(self) -> str:
        return f"127.0.0.1:{self.ports.auth}"

    @property
    def articles_target(self) -> str:
        return f"127.0.0.1:{self.ports.articles}"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.gateway}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.peer}"

    @property
    def trivial_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.trivial}"

    @property
    def trivial_gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.trivial_gateway}"

    def superuser_url(self, database: str = bootstrap.DATABASE) -> str:
        password = (self.data_dir / "postgres" / "superuser-password").read_text().strip()
        return f"postgresql://postgres:{password}@127.0.0.1:{self.ports.pg}/{database}"

    def peer_database_url(self) -> str:
        return (
            f"postgresql+asyncpg://{PEER_ROLE}:{self.peer_password}"
            f"@127.0.0.1:{self.ports.pg}/{bootstrap.DATABASE}"
        )

    # -- start
    def start(self) -> None:
        try:
            self._start_stack()
            self._start_peer()
            self._start_trivial()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._exit.close()

    def _spawn(self, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        handle = self._exit.enter_context(log.open("ab"))
        process = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
        self._exit.callback(_stop, process)
        self.pids.append(process.pid)
        return process

    def _start_stack(self) -> None:
        p, w = self.ports, str(self.workers)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH_", "ARTICLES_"))}
        env.update(
            BLOG_DATA_DIR=str(self.data_dir),
            BLOG_PG_PORT=str(p.pg),
            AUTH_PORT=str(p.auth),
            AUTH_WORKER_BASE_PORT=str(p.auth_workers),
            AUTH_WORKERS=w,
            ARTICLES_PORT=str(p.articles),
            ARTICLES_WORKER_BASE_PORT=str(p.articles_workers),
            ARTICLES_WORKERS=w,
            ARTICLES_AUTH_ADDRESS=self.auth_target,
            GATEWAY_PORT=str(p.gateway),
            GATEWAY_ADMIN_PORT=str(p.gateway_admin),
            GATEWAY_ACCESS_LOG_PATH=str(self.workdir / "gateway-access.log"),
        )
        process = self._spawn([sys.executable, "-m", "devstack", "run"], env, self.stack_log)
        _wait_for_text(self.stack_log, READY, process, timeout=180)

    def _start_peer(self) -> None:
        asyncio.run(self._prepare_peer_schema())
        env = dict(os.environ)
        env.update(
            PEER_DATABASE_URL=self.peer_database_url(),
            PEER_SECRET_KEY=self.peer_secret,
            PEER_SCHEMA=PEER_SCHEMA,
        )
        argv = [
            sys.executable, "-m", "uvicorn", "bench.peer.app:app",
            "--host", "127.0.0.1", "--port", str(self.ports.peer),
            "--workers", str(self.workers),
        ]  # fmt: skip
        process = self._spawn(argv, env, self.workdir / "peer.log")
        _wait_http(f"{self.peer_url}/openapi.json", process, timeout=60)

    async def _prepare_peer_schema(self) -> None:
        from sqlalchemy.ext.asyncio import create_async_engine

        from bench.peer.app import Base

        conn = await asyncpg.connect(self.superuser_url())
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", PEER_ROLE)
            verb = "ALTER" if exists else "CREATE"
            sql = await conn.fetchval(
                "SELECT format('%s ROLE %I LOGIN PASSWORD %L', $1::text, $2::text, $3::text)",
                verb,
                PEER_ROLE,
                self.peer_password,
            )
            await conn.execute(sql)
            await conn.execute(f'GRANT CONNECT ON DATABASE "{bootstrap.DATABASE}" TO {PEER_ROLE}')
            await conn.execute(f"DROP SCHEMA IF EXISTS {PEER_SCHEMA} CASCADE")
            await conn.execute(f"CREATE SCHEMA {PEER_SCHEMA} AUTHORIZATION {PEER_ROLE}")
        finally:
            await conn.close()
        engine = create_async_engine(self.peer_database_url())
        try:
            async with engine.begin() as connection:
                await connection.run_sync(Base.metadata.create_all)
        finally:
            await engine.dispose()

    def _start_trivial(self) -> None:
        from gateway import launch
        from gateway.config import GatewaySettings

        p = self.ports
        argv = [
            sys.executable, "-m", "bench.trivial",
            "--port", str(p.trivial), "--worker-base-port", str(p.trivial_workers),
            "--workers", str(self.workers),
        ]  # fmt: skip
        self._spawn(argv, dict(os.environ), self.workdir / "trivial.log")
        workers = [f"127.0.0.1:{p.trivial_workers + i}" for i in range(self.workers)]
        settings = GatewaySettings(
            port=p.trivial_gateway,
            admin_port=p.trivial_gateway_admin,
            articles_endpoints=workers,
            auth_endpoints=[self.auth_target],
            access_log_path=str(self.workdir / "trivial-gateway-access.log"),
        )
        handle = self._exit.enter_context((self.workdir / "trivial-gateway.log").open("ab"))
        envoy = launch.start(settings, self.workdir / "trivial-gateway", stdout=handle)
        self._exit.callback(_stop, envoy)
        self.pids.append(envoy.pid)
        # Envoy is ready before its first health check passes: wait for a real answer.
        _wait_http(f"{self.trivial_gateway_url}/articles/1", envoy, timeout=30)
