"""The stack on this machine, as processes the fault suite can hurt: PostgreSQL (embedded),
the auth and article services (`python -m ...`, two workers each) and Envoy.

Built from devstack's public pieces (the database, the services, the probe), but without
`make run`'s supervisor: a process the suite kills stays dead until the suite starts it
again. Everything listens on free ports and lives in one temporary folder; `close()` stops
it all, also after a failure (a frozen PostgreSQL is thawed first).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from devstack import bootstrap, database, ports, postgres, probe, services
from devstack.launched import children
from devstack.services import ServiceSpec


@dataclass
class Service:
    """One service: a supervisor process and its forked workers, in a session of their own."""

    spec: ServiceSpec
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def workers(self) -> int:
        return int(self.env[f"{self.spec.prefix}_WORKERS"])

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.env[f'{self.spec.prefix}_PORT']}"

    @property
    def worker_targets(self) -> list[str]:
        return services.worker_targets(self.spec, self.env)

    def start(self, *, wait: bool = True, timeout: float = 60.0) -> None:
        if self.process is not None:
            _wait_gone(self.process.pid)  # the old workers have let go of the ports
        if self._log is None:
            self._log = self.log_path.open("ab")
        self._log.write(f"\n--- start {time.strftime('%H:%M:%S')}\n".encode())
        self._log.flush()
        # Its own process group: kill -9 reaches every worker.
        self.process = services.spawn(self.spec, self.env, log=self._log, own_group=True)
        if wait:
            self.wait_serving(timeout)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_serving(self, timeout: float = 60.0) -> float:
        """Seconds until every worker (and the shared port) reports SERVING."""
        assert self.process is not None
        return probe.wait_serving([self.target, *self.worker_targets], self.process, timeout)

    def worker_pids(self) -> list[int]:
        return [] if self.process is None else children(self.process.pid)

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
        except (ProcessLookupError, PermissionError):
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
        for pid in children(master):
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


# What the suite changes from the services' defaults: quiet logs, no lock-out of its own
# logins, and a feed consumer that retries its lock and backs off within a scenario's time.
AUTH_SETTINGS = {"login_max_failures": "1000", "log_level": "WARNING"}
ARTICLES_SETTINGS = {
    "feed_lock_retry_seconds": "0.5",
    "feed_backoff_max_seconds": "1",
    "log_level": "WARNING",
}


@dataclass
class Cluster:
    workdir: Path
    workers: int = 2
    db: Database | None = None
    auth: Service | None = None
    articles: Service | None = None
    gateway: Gateway | None = None

    def start(self, *, with_gateway: bool = True) -> None:
        try:
            embedded = database.start_embedded(self.workdir, ports.free_port())
            self.db = Database(embedded.cluster)
            database.migrate_all(embedded.urls)
            self._start_services(embedded.urls)
            if with_gateway:
                self._start_gateway()
        except BaseException:
            self.close()
            raise

    def _start_services(self, urls: dict[str, str]) -> None:
        from auth_service.keys import ensure_key

        keys_dir = self.workdir / "keys"
        ensure_key(keys_dir)
        n = self.workers
        auth_port = ports.free_port_block(2 + 2 * n)
        articles_port = auth_port + 1 + n
        env = services.clean_env()
        # Fork after gRPC started is not what the services do; keep gRPC's fork hooks off.
        env["GRPC_ENABLE_FORK_SUPPORT"] = "false"
        auth_env = services.settings(
            services.AUTH, port=auth_port, workers=n, database_url=urls["auth"],
            keys_dir=str(keys_dir), **AUTH_SETTINGS,
        )  # fmt: skip
        articles_env = services.settings(
            services.ARTICLES, port=articles_port, workers=n, database_url=urls["articles"],
            auth_address=f"127.0.0.1:{auth_port}", **ARTICLES_SETTINGS,
        )  # fmt: skip
        self.auth = Service(services.AUTH, {**env, **auth_env}, self.workdir / "auth.log")
        self.articles = Service(
            services.ARTICLES, {**env, **articles_env}, self.workdir / "articles.log"
        )
        self.auth.start()
        self.articles.start()

    def _start_gateway(self) -> None:
        from gateway import launch
        from gateway.config import GatewaySettings

        assert self.auth is not None
        assert self.articles is not None
        port = ports.free_port()
        settings = GatewaySettings(
            port=port,
            admin_port=ports.free_port(),
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
