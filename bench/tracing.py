"""The observability rows: GetArticle against article services serving Prometheus metrics,
or exporting OpenTelemetry spans at 100% and 1% sampling, beside a control started the same
way with both off, in the same run, and each one's overhead as a ratio.

Each traced row has an article service of its own (same database, same worker count, no
feed consumer), started with the OTEL_* variables an operator would set and exporting
to a sink that accepts and discards (bench.otlp_sink). Its calls arrive without a
traceparent, so each is a root: the ratio sampler decides, as Envoy would at the edge.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack import bootstrap
from devstack.postgres import free_port_block
from devstack.settings import role_passwords

if TYPE_CHECKING:
    from bench import tools
    from bench.environment import Environment
    from bench.run import Target

UNTRACED = "gRPC GetArticle"
# The control: a service started exactly as the others, without an OTLP endpoint and with
# metrics off, so each ratio compares one feature alone (not how the process was started).
CONTROL = "gRPC GetArticle, metrics and tracing off"
METRICS = "gRPC GetArticle, metrics on"
# Row name -> OTEL_TRACES_SAMPLER_ARG (parentbased_traceidratio); None: no endpoint.
SAMPLED: dict[str, str | None] = {
    CONTROL: None,
    METRICS: None,
    "gRPC GetArticle, traced 100%": "1",
    "gRPC GetArticle, traced 1%": "0.01",
}
SERVICE = "blog.articles.v1.ArticleService"


def _wait_serving(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    request = health_pb2.HealthCheckRequest(service=SERVICE)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"traced article service exited with {process.returncode}")
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            try:
                stub: Any = health_pb2_grpc.HealthStub(channel)  # the stubs are untyped
                reply = stub.Check(request, timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
        time.sleep(0.3)
    raise RuntimeError(f"traced article service on {port} not SERVING within {timeout:.0f} s")


def _articles_url(env: Environment) -> str:
    role = next(item.role for item in bootstrap.ROLES if item.schema == "articles")
    password = role_passwords(env.data_dir)[role]
    return bootstrap.service_url(role, password, env.ports.pg)


def targets(env: Environment, rows: list[Target], only: str) -> list[Target]:
    """Start what the selected traced rows need; return those rows (none if not selected)."""
    wanted = [name for name in SAMPLED if only in name]
    untraced = next((row for row in rows if row.name == UNTRACED), None)
    if not wanted or untraced is None:
        return []
    workers = env.workers
    base = free_port_block(2 + len(wanted) * (1 + workers))
    sink = env._spawn(
        [sys.executable, "-m", "bench.otlp_sink", "--port", str(base)],
        dict(os.environ),
        env.workdir / "otlp-sink.log",
    )
    started: list[Target] = []
    for index, name in enumerate(wanted):
        port = base + 1 + index * (1 + workers)  # the last port of the block: metrics
        service_env = {
            k: v for k, v in os.environ.items() if not k.startswith(("ARTICLES_", "OTEL_"))
        }
        service_env.update(
            ARTICLES_DATABASE_URL=_articles_url(env),
            ARTICLES_PORT=str(port),
            ARTICLES_WORKER_BASE_PORT=str(port + 1),
            ARTICLES_WORKERS=str(workers),
            ARTICLES_AUTH_ADDRESS=env.auth_target,
            ARTICLES_FEED_CONSUMER="false",
            # The metrics row serves /metrics (multi-process, as `make run` does); no one
            # scrapes it during the run, which is the per-call cost alone.
            ARTICLES_METRICS_PORT=str(base + 1 + len(wanted) * (1 + workers))
            if name == METRICS
            else "0",
        )
        ratio = SAMPLED[name]
        if ratio is not None:
            service_env.update(
                OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{base}",
                OTEL_TRACES_SAMPLER="parentbased_traceidratio",
                OTEL_TRACES_SAMPLER_ARG=ratio,
            )
        # Its call lines go to the stack log, where the bench checks every call's code.
        process = env._spawn([sys.executable, "-m", "article_service"], service_env, env.stack_log)
        _wait_serving(port, process)
        shared = f"127.0.0.1:{env.ports.articles}"
        started.append(
            replace(
                untraced,
                name=name,
                url=untraced.url.replace(shared, f"127.0.0.1:{port}", 1),
                workers=tuple(port + 1 + i for i in range(workers)),
                peer=None,
            )
        )
    if sink.poll() is not None:
        raise RuntimeError("the OTLP sink exited")
    return started


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def overhead(runs: dict[str, list[tools.Measured]]) -> str:
    """Each metrics or traced row's median throughput as a ratio of the control's."""
    off = runs.get(CONTROL)
    lines = []
    for name in SAMPLED:
        traced = runs.get(name) if name != CONTROL else None
        if not off or not traced:
            continue
        ratio = _median([m.rps for m in traced]) / _median([m.rps for m in off])
        lines.append(f"- {name}: {ratio:.3f} of {CONTROL!r} ({1 - ratio:.1%} cost)")
    if not lines:
        return ""
    return (
        "\nMetrics and tracing overhead, GetArticle throughput (same run, medians):\n"
        + "\n".join(lines)
    )
