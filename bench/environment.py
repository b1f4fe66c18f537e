"""Start what the bench drives: our stack (`make run` through devstack.launched, on free
ports in a throw-away data dir), the FastAPI peer (uvicorn) in its own schema, the trivial
gRPC server, and a second Envoy with the same configuration in front of the trivial server.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from devstack import bootstrap
from devstack.launched import ROOT, LaunchedStack, stack_env, stop_process, wait_http
from devstack.ports import free_port_block

PEER_ROLE = "bench_peer"
PEER_SCHEMA = "peer"


@dataclass
class Ports:
    """The bench's own processes' ports (the stack's are in its environment)."""

    peer: int
    trivial: int
    trivial_workers: int
    trivial_gateway: int
    trivial_gateway_admin: int

    @classmethod
    def allocate(cls, workers: int) -> Ports:
        base = free_port_block(4 + workers)
        return cls(
            peer=base,
            trivial=base + 1,
            trivial_workers=base + 2,
            trivial_gateway=base + 2 + workers,
            trivial_gateway_admin=base + 3 + workers,
        )


class Environment:
    """Everything running; `close()` stops it all (PostgreSQL last, through devstack)."""

    def __init__(self, workdir: Path, workers: int) -> None:
        self.workdir = workdir
        self.workers = workers
        self.ports = Ports.allocate(workers)
        self.data_dir = workdir / "data"
        self.stack_log = workdir / "stack.log"  # also where the call lines are checked
        self.stack = LaunchedStack(
            stack_env(
                self.data_dir,
                workers=workers,
                GATEWAY_ACCESS_LOG_PATH=str(workdir / "gateway-access.log"),
            ),
            log=self.stack_log,
        )
        self.peer_secret = secrets.token_urlsafe(32)
        self.peer_password = secrets.token_urlsafe(24)
        self._exit = ExitStack()
        self.pids: list[int] = []  # what the bench started (their trees are what it measures)

    # -- addresses
    @property
    def auth_target(self) -> str:
        return self.stack.auth_target

    @property
    def articles_target(self) -> str:
        return self.stack.articles_target

    @property
    def articles_workers(self) -> tuple[int, ...]:
        return self.stack.worker_ports("ARTICLES")

    @property
    def gateway_url(self) -> str:
        return self.stack.gateway_url

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.peer}"

    @property
    def trivial_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.trivial}"

    @property
    def trivial_workers(self) -> tuple[int, ...]:
        return tuple(self.ports.trivial_workers + i for i in range(self.workers))

    @property
    def trivial_gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.trivial_gateway}"

    def superuser_url(self, database: str = bootstrap.DATABASE) -> str:
        return self.stack.superuser_url(database)

    def peer_database_url(self) -> str:
        return (
            f"postgresql+asyncpg://{PEER_ROLE}:{self.peer_password}"
            f"@127.0.0.1:{self.stack.postgres.port}/{bootstrap.DATABASE}"
        )

    # -- start
    def start(self) -> None:
        try:
            self._exit.callback(self.stack.stop)
            self.stack.start()
            assert self.stack.process is not None
            self.pids.append(self.stack.process.pid)
            self._start_peer()
            self._start_trivial()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._exit.close()

    def spawn(self, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        """Start one more process of the bench (output to `log`), measured and stopped with
        the rest."""
        handle = self._exit.enter_context(log.open("ab"))
        process = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
        self._exit.callback(stop_process, process, 30)
        self.pids.append(process.pid)
        return process

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
        process = self.spawn(argv, env, self.workdir / "peer.log")
        wait_http(f"{self.peer_url}/openapi.json", process, timeout=60)

    async def _prepare_peer_schema(self) -> None:
        from sqlalchemy.ext.asyncio import create_async_engine

        from bench.peer.app import Base

        conn = await asyncpg.connect(self.superuser_url())
        try:
            await bootstrap.ensure_role(conn, PEER_ROLE, self.peer_password)
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
        self.spawn(argv, dict(os.environ), self.workdir / "trivial.log")
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
        self._exit.callback(stop_process, envoy, 30)
        self.pids.append(envoy.pid)
        # Envoy is ready before its first health check passes: wait for a real answer.
        wait_http(f"{self.trivial_gateway_url}/articles/1", envoy, timeout=30)
