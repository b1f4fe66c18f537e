"""Start the whole stack in the foreground, keep it running, stop it cleanly on a signal.

PostgreSQL (embedded, unless both AUTH_DATABASE_URL and ARTICLES_DATABASE_URL point
elsewhere), migrations, the auth and article services (AUTH_REPLICAS / ARTICLES_REPLICAS
processes each, replica i on loopback address 127.0.0.<i+1>), and the Envoy gateway,
which finds the replicas' workers in endpoint files it watches (file-based EDS).

Every process is supervised: one that dies is restarted with backoff and the restart is
printed; a crashed embedded PostgreSQL is started again. Only Ctrl-C/SIGTERM, or a
process that keeps crashing, ends the stack. `python -m devstack scale articles 3`
(SIGHUP) adds or drains replicas while it runs: a new one joins the endpoint files once
it is SERVING; one that leaves is taken out of them first, then sent SIGTERM to drain.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dotenv

from devstack import database, postgres, services
from devstack.control import control_dir, wanted_counts
from devstack.probe import serving, wait_serving
from devstack.services import SERVICES, ServiceSpec
from devstack.settings import StackSettings
from devstack.supervise import Child, CrashLoopError, say
from svckit.workers import ExitHistory, RestartPolicy

ROOT = Path(__file__).resolve().parent.parent
POLICY = RestartPolicy()
STOP_TIMEOUT_SECONDS = 30.0  # a service's drain (10 s) and its workers' margin, with room
DRAIN_DELAY_SECONDS = 1.0  # between leaving the endpoint files and SIGTERM
STATS_PORT = "9902"  # Envoy's Prometheus stats under make run (GATEWAY_STATS_PORT; 0 = off)


@dataclass
class Replica:
    spec: ServiceSpec
    index: int
    host: str  # its own loopback address
    address: str  # host:shared port, where its health is asked
    child: Child
    in_rotation: bool = False  # listed in the gateway's endpoint file


@dataclass
class Stack:
    settings: StackSettings
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    cluster: postgres.LocalPostgres | None = None
    replicas: dict[str, list[Replica]] = field(default_factory=dict)
    gateway: Child | None = None
    endpoints_dir: Path = Path()
    addresses: list[tuple[str, str]] = field(default_factory=list)
    pg_history: ExitHistory = field(default_factory=lambda: ExitHistory(POLICY))
    pg_due: float | None = None
    pg_checked: float = 0.0

    # --- set-up ---------------------------------------------------------------------------

    def prepare_database(self) -> None:
        external = {"AUTH_DATABASE_URL", "ARTICLES_DATABASE_URL"} <= self.env.keys()
        if not external:
            embedded = database.start_embedded(self.settings.data_dir, self.settings.pg_port)
            self.cluster = embedded.cluster
            for spec in SERVICES:
                self.env.setdefault(f"{spec.prefix}_DATABASE_URL", embedded.urls[spec.name])
            self.addresses.append(("PostgreSQL", f"127.0.0.1:{self.cluster.port} (embedded)"))
        database.migrate_all({s.name: self.env[f"{s.prefix}_DATABASE_URL"] for s in SERVICES})

    def ensure_keys(self) -> None:
        from auth_service.keys import ensure_key

        keys_dir = Path(self.env.setdefault("AUTH_KEYS_DIR", str(self.settings.data_dir / "keys")))
        ensure_key(keys_dir)

    def point_articles_at_auth(self) -> None:
        """The article service reaches every auth replica there is at start (gRPC fails over)."""
        port = self.env.get("AUTH_PORT", "50051")
        hosts = [_replica_host(self.env, "AUTH", i) for i in range(self.settings.auth_replicas)]
        listed = ",".join(f"{host}:{port}" for host in hosts)
        self.env.setdefault(
            "ARTICLES_AUTH_ADDRESS", listed if len(hosts) == 1 else f"ipv4:{listed}"
        )

    # --- the services -----------------------------------------------------------------------

    def start_replica(self, spec: ServiceSpec, index: int, *, wait: bool) -> Replica:
        host = _replica_host(self.env, spec.prefix, index)
        env = {**self.env, f"{spec.prefix}_HOST": host}
        env.setdefault(f"{spec.prefix}_METRICS_HOST", host)  # each replica's own /metrics
        name = spec.label if index == 0 else f"{spec.label} replica {index}"
        child = Child(name, lambda: services.spawn(spec, env), POLICY)
        address = f"{host}:{env.get(f'{spec.prefix}_PORT', spec.default_port)}"
        replica = Replica(spec, index, host, address, child)
        child.start()
        self.replicas.setdefault(spec.name, []).append(replica)
        if wait and child.process is not None:
            wait_serving([replica.address], child.process, self.settings.startup_timeout_seconds)
            replica.in_rotation = True
        return replica

    def start_services(self) -> None:
        counts = {"auth": self.settings.auth_replicas, "articles": self.settings.articles_replicas}
        for spec in SERVICES:
            for index in range(counts[spec.name]):
                replica = self.start_replica(spec, index, wait=True)
                self.addresses.append((replica.child.name, f"{replica.address} (gRPC)"))
                port = self.env.get(f"{spec.prefix}_METRICS_PORT", spec.default_metrics_port)
                if port != "0":
                    host = self.env.get(f"{spec.prefix}_METRICS_HOST", replica.host)
                    metrics = f"http://{host}:{port}/metrics"
                    self.addresses.append((f"{replica.child.name} metrics", metrics))

    def endpoints(self, spec: ServiceSpec) -> list[str]:
        from gateway.config import worker_endpoints

        listed = [r for r in self.replicas.get(spec.name, []) if r.in_rotation]
        return [e for r in listed for e in worker_endpoints(spec.prefix, self.env, r.host)]

    def publish(self, spec: ServiceSpec) -> None:
        from gateway.upstreams import write_endpoints

        write_endpoints(self.endpoints_dir, spec.name, self.endpoints(spec))

    def start_gateway(self) -> None:
        from gateway import config as gateway_config
        from gateway import launch, render

        self.endpoints_dir = self.settings.data_dir.resolve() / "gateway" / "endpoints"
        by_name = {spec.name: self.endpoints(spec) for spec in SERVICES}
        settings = gateway_config.GatewaySettings(
            auth_endpoints=by_name["auth"],
            articles_endpoints=by_name["articles"],
            endpoints_dir=self.endpoints_dir,
            stats_port=int(os.environ.get("GATEWAY_STATS_PORT", STATS_PORT)),
        )
        config = render.write(settings, self.settings.data_dir / "gateway")
        command = launch.command(settings, config)
        self.gateway = Child("Gateway (Envoy)", lambda: subprocess.Popen(command), POLICY)
        self.gateway.start()
        assert self.gateway.process is not None
        launch.wait_ready(settings, self.gateway.process, timeout=30)
        self.addresses.append(("Gateway", f"http://{settings.host}:{settings.port}"))
        self.addresses.append(("API docs", f"http://{settings.host}:{settings.port}/docs"))
        self.addresses.append(
            ("Envoy admin", f"http://{settings.admin_host}:{settings.admin_port}")
        )
        if settings.stats_port:
            stats = f"http://{settings.stats_host}:{settings.stats_port}/metrics"
            self.addresses.append(("Envoy metrics", stats))

    # --- keeping it running -------------------------------------------------------------------

    def tend(self) -> None:
        """One supervision pass: restart what died, admit replicas that became SERVING."""
        self._tend_postgres()
        for spec in SERVICES:
            kept = []
            for replica in self.replicas.get(spec.name, []):
                if replica.child.tend():
                    kept.append(replica)
                joining = not replica.in_rotation and not replica.child.retiring
                if joining and replica.child.alive() and serving(replica.address):
                    replica.in_rotation = True
                    self.publish(spec)
                    say(f"{replica.child.name} is SERVING at {replica.address}; in rotation")
            self.replicas[spec.name] = kept
        if self.gateway is not None:
            self.gateway.tend()

    def scale(self, spec: ServiceSpec, count: int) -> None:
        """Start replicas up to `count`, or drain the newest ones down to it."""
        current = [r for r in self.replicas.get(spec.name, []) if not r.child.retiring]
        for index in range(len(current), count):
            replica = self.start_replica(spec, index, wait=False)
            say(f"{replica.child.name} starting at {replica.address} (pid {replica.child.pid})")
        leaving = current[count:]
        if not leaving:
            return
        for replica in leaving:
            replica.in_rotation = False
            replica.child.retiring = True
        self.publish(spec)  # Envoy stops picking them first ...
        time.sleep(DRAIN_DELAY_SECONDS)
        for replica in leaving:  # ... then they drain what is in flight and exit
            say(f"{replica.child.name} leaving rotation; draining (SIGTERM)")
            replica.child.terminate()

    def rescale_from_file(self) -> None:
        wanted = wanted_counts(self.settings)
        for spec in SERVICES:
            if spec.name in wanted:
                self.scale(spec, wanted[spec.name])

    def _tend_postgres(self) -> None:
        if self.cluster is None:
            return
        now = time.monotonic()
        if self.pg_due is None:
            if now - self.pg_checked < 1.0:
                return
            self.pg_checked = now
            if self.cluster.is_running():  # a zombie postmaster counts as dead
                return
            self.pg_history.record(now)
            if self.pg_history.crash_looping():
                raise CrashLoopError("PostgreSQL kept dying; giving up")
            delay = self.pg_history.next_delay()
            self.pg_due = now + delay
            say(f"PostgreSQL is down; restarting in {delay:g} s")
        elif now >= self.pg_due:
            self.pg_due = None
            self.pg_checked = now
            try:
                self.cluster.start()
            except RuntimeError as exc:
                say(f"PostgreSQL did not start ({str(exc).splitlines()[0]}); will retry")
                return
            say(f"PostgreSQL restarted (pid {self.cluster.pid()})")

    def wait(self, stopping: Callable[[], bool], rescale: Callable[[], bool]) -> int:
        """Supervise until a signal arrives (exit 0) or something crash-loops (exit 1)."""
        while not stopping():
            if rescale():
                self.rescale_from_file()
            try:
                self.tend()
            except CrashLoopError as exc:
                say(str(exc))
                return 1
            time.sleep(0.2)
        return 0

    def stop(self) -> None:
        """Gateway first, then the article service, then auth (each tier drained), then the DB."""
        tiers: list[list[Child]] = [[self.gateway] if self.gateway else []]
        tiers += [[r.child for r in self.replicas.get(s.name, [])] for s in reversed(SERVICES)]
        for tier in tiers:
            for child in tier:
                child.terminate()
            for child in tier:
                child.wait(STOP_TIMEOUT_SECONDS)
        if self.cluster is not None:
            self.cluster.stop()


def _replica_host(env: dict[str, str], prefix: str, index: int) -> str:
    host = env.get(f"{prefix}_HOST", "127.0.0.1")
    if index == 0:
        return host
    if host != "127.0.0.1":
        raise ValueError(f"{prefix}_HOST={host}: replicas need the loopback default 127.0.0.1")
    return f"127.0.0.{index + 1}"


def run() -> int:
    # Settings in .env apply to every process of the stack; real environment variables win.
    dotenv.load_dotenv(ROOT / ".env", override=False)
    stack = Stack(StackSettings())
    flags = {"stopping": False, "rescale": False}

    def on_stop(_signum: int, _frame: object) -> None:
        flags["stopping"] = True

    def on_rescale(_signum: int, _frame: object) -> None:
        flags["rescale"] = True

    def take_rescale() -> bool:
        wanted, flags["rescale"] = flags["rescale"], False
        return wanted

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_rescale)
    folder = control_dir(stack.settings)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "replicas.json").unlink(missing_ok=True)
    (folder / "launcher.pid").write_text(str(os.getpid()))
    try:
        stack.prepare_database()
        stack.ensure_keys()
        stack.point_articles_at_auth()
        stack.start_services()
        stack.start_gateway()
        width = max(len(name) for name, _ in stack.addresses)
        print("\nThe blog stack is running (Ctrl-C stops it):", flush=True)
        for name, address in stack.addresses:
            print(f"  {name:<{width}}  {address}", flush=True)
        code = stack.wait(lambda: flags["stopping"], take_rescale)
    except Exception as exc:  # noqa: BLE001 - any start-up failure ends the stack cleanly
        print(f"start-up failed: {exc}", file=sys.stderr)
        code = 1
    finally:
        print("stopping...", file=sys.stderr, flush=True)
        stack.stop()
        (folder / "launcher.pid").unlink(missing_ok=True)
    return code
