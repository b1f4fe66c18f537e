"""The stack on this machine, as processes the fault suite can hurt: PostgreSQL (embedded),
the auth and article services (`python -m ...`, two workers each) and Envoy.

Everything listens on free ports and lives in one temporary folder; `close()` stops it
all, also after a failure (a frozen PostgreSQL is thawed first).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack import bootstrap, migrate, postgres

ROOT = Path(__file__).resolve().parent.parent
PREFIXES = ("AUTH_", "ARTICLES_", "GATEWAY_", "BLOG_")


def children_of(pid: int) -> list[int]:
    """Direct children of `pid` (from /proc)."""
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def health_status(target: str, timeout: float = 1.0) -> str:
    """SERVING / NOT_SERVING, or the gRPC code name when the check itself failed."""
    with grpc.insecure_channel(target) as channel:
        stub: Any = health_pb2_grpc.HealthStub(channel)  # typed for the sync API it is
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else None
            return code.name if code is not None else "ERROR"
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


@dataclass
class Service:
    """One service: a supervisor process and its forked workers, in a session of their own."""

    name: str
    module: str
    env: dict[str, str]
    port: int
    worker_base_port: int
    workers: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def worker_targets(self) -> list[str]:
        return [f"127.0.0.1:{self.worker_base_port + i}" for i in range(self.workers)]

    def start(self, *, wait: bool = True, timeout: float = 60.0) -> None:
        if self.process is not None:
            _wait_gone(self.process.pid)  # the old workers have let go of the ports
        if self._log is None:
            self._log = self.log_path.open("ab")
        self._log.write(f"\n--- start {time.strftime('%H:%M:%S')}\n".encode())
        self._log.flush()
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module],
            env=self.env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill -9 reaches every worker
        )
        if wait:
            self.wait_serving(timeout)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_serving(self, timeout: float = 60.0) -> float:
        """Seconds until every worker (and the shared port) reports SERVING."""
        started = time.monotonic()
        deadline = started + timeout
        targets = [self.target, *self.worker_targets]
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}")
            if all(health_status(t, 0.5) == "SERVING" for t in targets):
                return time.monotonic() - started
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not report SERVING within {timeout:.0f} s")

    def worker_pids(self) -> list[int]:
        return [] if self.process is None else children_of(self.process.pid)

    def kill9(self) -> None:
        """SIGKILL to the supervisor and every worker at once (a crash of the service)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        _wait_gone(self.process.pid)

    def kill9_worker(self, index: int = 0) -> int | None:
        """SIGKILL one worker; the service's supervisor forks a new one in its slot."""
        pids = sorted(self.worker_pids())
        if not pids:
            return None
        pid = pids[index % len(pids)]
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        return pid

    def sigterm(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout: float) -> int | None:
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None:
            return
        self.sigterm()
        if self.wait_exit(timeout) is None:
            self.kill9()
        _wait_gone(self.process.pid)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill9()
        elif self.process is not None:
            # The supervisor is gone; a worker it left behind must not outlive the suite.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None


def _wait_gone(pgid: int, timeout: float = 10.0) -> None:
    """Wait until no process of group `pgid` is left (its workers, reparented to init)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            return
        time.sleep(0.02)


@dataclass
class Database:
    """The embedded PostgreSQL, with the operations the suite inflicts on it."""

    cluster: postgres.LocalPostgres
    frozen: list[int] = field(default_factory=list)

    def superuser_url(self) -> str:
        return self.cluster.superuser_url(bootstrap.DATABASE)

    def restart(self, mode: str, down_seconds: float = 0.5) -> None:
        """pg_ctl stop -m `mode` (fast: sessions end cleanly; immediate: a crash), then start."""
        self.cluster.stop(mode)
        time.sleep(down_seconds)
        self.cluster.start()

    def freeze(self) -> None:
        """SIGSTOP the postmaster, then every backend and helper process it forked."""
        master = self.cluster.pid()
        if master is None:
            raise RuntimeError("PostgreSQL is not running")
        os.kill(master, signal.SIGSTOP)
        self.frozen = [master]
        for pid in children_of(master):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
                self.frozen.append(pid)

    def thaw(self) -> None:
        for pid in reversed(self.frozen):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self.frozen = []

    def close(self) -> None:
        self.thaw()
        self.cluster.stop("immediate")


@dataclass
class Gateway:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Cluster:
    workdir: Path
    workers: int = 2
    db: Database | None = None
    auth: Service | None = None
    articles: Service | None = None
    gateway: Gateway | None = None
    urls: dict[str, str] = field(default_factory=dict)

    def start(self, *, with_gateway: bool = True) -> None:
        try:
            self._start_database()
            self._start_services()
            if with_gateway:
                self._start_gateway()
        except BaseException:
            self.close()
            raise

    def _start_database(self) -> None:
        cluster = postgres.LocalPostgres(self.workdir / "pg", postgres.free_port())
        cluster.start()
        self.db = Database(cluster)
        passwords = {item.role: secrets.token_urlsafe(16) for item in bootstrap.ROLES}
        bootstrap.bootstrap(cluster.superuser_url(), passwords)
        for item in bootstrap.ROLES:
            url = bootstrap.service_url(item.role, passwords[item.role], cluster.port)
            self.urls[item.schema] = url
            migrate.upgrade(item.schema, url)

    def _start_services(self) -> None:
        from auth_service.keys import ensure_key

        keys_dir = self.workdir / "keys"
        ensure_key(keys_dir)
        n = self.workers
        base = postgres.free_port_block(2 + 2 * n)
        env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIXES)}
        # Fork after gRPC started is not what the services do; keep gRPC's fork hooks off.
        env["GRPC_ENABLE_FORK_SUPPORT"] = "false"
        auth_env = {
            **env,
            "AUTH_DATABASE_URL": self.urls["auth"],
            "AUTH_PORT": str(base),
            "AUTH_WORKER_BASE_PORT": str(base + 1),
            "AUTH_WORKERS": str(n),
            "AUTH_KEYS_DIR": str(keys_dir),
            "AUTH_LOGIN_MAX_FAILURES": "1000",
            "AUTH_LOG_LEVEL": "WARNING",
        }
        articles_port = base + 1 + n
        articles_env = {
            **env,
            "ARTICLES_DATABASE_URL": self.urls["articles"],
            "ARTICLES_PORT": str(articles_port),
            "ARTICLES_WORKER_BASE_PORT": str(articles_port + 1),
            "ARTICLES_WORKERS": str(n),
            "ARTICLES_AUTH_ADDRESS": f"127.0.0.1:{base}",
            "ARTICLES_FEED_LOCK_RETRY_SECONDS": "0.5",
            "ARTICLES_FEED_BACKOFF_MAX_SECONDS": "1",
            "ARTICLES_LOG_LEVEL": "WARNING",
        }
        self.auth = Service(
            "auth", "auth_service", auth_env, base, base + 1, n, self.workdir / "auth.log"
        )
        self.articles = Service(
            "articles",
            "article_service",
            articles_env,
            articles_port,
            articles_port + 1,
            n,
            self.workdir / "articles.log",
        )
        self.auth.start()
        self.articles.start()

    def _start_gateway(self) -> None:
        from gateway import launch
        from gateway.config import GatewaySettings

        assert self.auth is not None
        assert self.articles is not None
        port = postgres.free_port()
        settings = GatewaySettings(
            port=port,
            admin_port=postgres.free_port(),
            auth_endpoints=self.auth.worker_targets,
            articles_endpoints=self.articles.worker_targets,
            access_log_path=str(self.workdir / "gateway-access.log"),
            health_check_interval_seconds=0.5,
            concurrency=1,
            login_rate_per_minute=60_000,
        )
        with (self.workdir / "gateway.log").open("wb") as out:
            process = launch.start(settings, self.workdir / "gateway", stdout=out)
        self.gateway = Gateway(process, port)

    def ensure_healthy(self, timeout: float = 60.0) -> None:
        """Between scenarios: PostgreSQL thawed and up, both services running and serving."""
        assert self.db is not None
        assert self.auth is not None
        assert self.articles is not None
        self.db.thaw()
        if not self.db.cluster.is_running():
            self.db.cluster.start()
        for service in (self.auth, self.articles):
            if not service.running():
                service.close()
                service.start(timeout=timeout)
            else:
                service.wait_serving(timeout)

    def close(self) -> None:
        for item in (self.gateway, self.articles, self.auth):
            if item is not None:
                with contextlib.suppress(Exception):
                    item.close()
        if self.db is not None:
            self.db.close()
