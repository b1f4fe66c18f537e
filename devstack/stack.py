"""Start the whole stack in the foreground and stop it cleanly on Ctrl-C or SIGTERM.

PostgreSQL (embedded, unless both AUTH_DATABASE_URL and ARTICLES_DATABASE_URL point
elsewhere), migrations, the auth and article services, and the Envoy gateway.
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
import grpc
from grpc_health.v1 import health_pb2

from devstack import bootstrap, migrate, postgres
from devstack.settings import StackSettings, role_passwords

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Stack:
    settings: StackSettings
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    cluster: postgres.LocalPostgres | None = None
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    addresses: list[tuple[str, str]] = field(default_factory=list)

    def prepare_database(self) -> None:
        external = {"AUTH_DATABASE_URL", "ARTICLES_DATABASE_URL"} <= self.env.keys()
        if not external:
            data_dir = self.settings.data_dir
            self.cluster = postgres.LocalPostgres(data_dir / "postgres", self.settings.pg_port)
            self.cluster.start()
            passwords = role_passwords(data_dir)
            bootstrap.bootstrap(self.cluster.superuser_url(), passwords)
            for item in bootstrap.ROLES:
                url = bootstrap.service_url(item.role, passwords[item.role], self.cluster.port)
                self.env.setdefault(f"{item.schema.upper()}_DATABASE_URL", url)
            self.addresses.append(("PostgreSQL", f"127.0.0.1:{self.cluster.port} (embedded)"))
        for service in migrate.SERVICES:
            migrate.upgrade(service, self.env[f"{service.upper()}_DATABASE_URL"])

    def ensure_keys(self) -> None:
        from auth_service.keys import ensure_key

        keys_dir = Path(self.env.setdefault("AUTH_KEYS_DIR", str(self.settings.data_dir / "keys")))
        ensure_key(keys_dir)

    def start_service(self, name: str, module: str, address_var: str, default: str) -> None:
        process = subprocess.Popen([sys.executable, "-m", module], env=self.env, cwd=ROOT)
        self.processes.append((name, process))
        host, port = _address(self.env, address_var, default)
        _wait_serving(f"{host}:{port}", process, self.settings.startup_timeout_seconds)
        self.addresses.append((name, f"{host}:{port} (gRPC)"))

    def start_gateway(self) -> None:
        from gateway import config as gateway_config
        from gateway import launch

        settings = gateway_config.GatewaySettings()
        process = launch.start(settings, self.settings.data_dir / "gateway")
        self.processes.append(("gateway", process))
        self.addresses.append(("Gateway", f"http://{settings.host}:{settings.port}"))
        self.addresses.append(("API docs", f"http://{settings.host}:{settings.port}/docs"))
        self.addresses.append(
            ("Envoy admin", f"http://{settings.admin_host}:{settings.admin_port}")
        )

    def stop(self) -> None:
        for _name, process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _name, process in reversed(self.processes):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if self.cluster is not None:
            self.cluster.stop()

    def wait(self, stopping: Callable[[], bool]) -> int:
        """Block until a signal arrives (exit 0) or a process dies (exit 1)."""
        while not stopping():
            for name, process in self.processes:
                if process.poll() is not None:
                    print(f"{name} exited with {process.returncode}; stopping", file=sys.stderr)
                    return 1
            time.sleep(0.2)
        return 0


def _address(env: dict[str, str], prefix: str, default_port: str) -> tuple[str, str]:
    return env.get(f"{prefix}_HOST", "127.0.0.1"), env.get(f"{prefix}_PORT", default_port)


def _wait_serving(target: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(target) as channel:
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{target}: the process exited with {process.returncode}")
            try:
                reply = check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.2)
    raise RuntimeError(f"{target} did not report SERVING within {timeout:.0f} s")


def run() -> int:
    # Settings in .env apply to every process of the stack; real environment variables win.
    dotenv.load_dotenv(ROOT / ".env", override=False)
    stack = Stack(StackSettings())
    stopping = False

    def on_signal(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        stack.prepare_database()
        stack.ensure_keys()
        stack.start_service("Auth service", "auth_service", "AUTH", "50051")
        stack.start_service("Article service", "article_service", "ARTICLES", "50052")
        stack.start_gateway()
        width = max(len(name) for name, _ in stack.addresses)
        print("\nThe blog stack is running (Ctrl-C stops it):", flush=True)
        for name, address in stack.addresses:
            print(f"  {name:<{width}}  {address}", flush=True)
        code = stack.wait(lambda: stopping)
    except Exception as exc:  # noqa: BLE001 - any start-up failure ends the stack cleanly
        print(f"start-up failed: {exc}", file=sys.stderr)
        code = 1
    finally:
        print("stopping...", file=sys.stderr, flush=True)
        stack.stop()
    return code
