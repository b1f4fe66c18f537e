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
import sys
from dataclasses import replace
from typing import TYPE_CHECKING

from devstack import services
from devstack.postgres import free_port_block
from devstack.probe import wait_serving

if TYPE_CHECKING:
    from bench import tools
    from bench.environment import Environment
    from bench.targets import Target

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


def _service_env(env: Environment, name: str, port: int, sink: int, metrics: int) -> dict[str, str]:
    """An article service as the stack's, on `port` and the workers' ports after it, with
    row `name`'s metrics and tracing settings (OTLP to the sink on port `sink`)."""
    service_env = services.clean_env("ARTICLES_", "OTEL_")
    service_env.update(
        services.settings(
            services.ARTICLES,
            port=port,
            workers=env.workers,
            database_url=env.stack.database_url("articles"),
            auth_address=env.auth_target,
            feed_consumer="false",
            # The metrics row serves /metrics (multi-process, as `make run` does); no one
            # scrapes it during the run, which is the per-call cost alone.
            metrics_port=str(metrics) if name == METRICS else "0",
        )
    )
    ratio = SAMPLED[name]
    if ratio is not None:
        service_env.update(
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{sink}",
            OTEL_TRACES_SAMPLER="parentbased_traceidratio",
            OTEL_TRACES_SAMPLER_ARG=ratio,
        )
    return service_env


def targets(env: Environment, rows: list[Target], only: str) -> list[Target]:
    """Start what the selected traced rows need; return those rows (none if not selected)."""
    wanted = [name for name in SAMPLED if only in name]
    untraced = next((row for row in rows if row.name == UNTRACED), None)
    if not wanted or untraced is None:
        return []
    workers = env.workers
    base = free_port_block(2 + len(wanted) * (1 + workers))
    metrics = base + 1 + len(wanted) * (1 + workers)  # the last port of the block
    sink = env.spawn(
        [sys.executable, "-m", "bench.otlp_sink", "--port", str(base)],
        dict(os.environ),
        env.workdir / "otlp-sink.log",
    )
    started: list[Target] = []
    for index, name in enumerate(wanted):
        port = base + 1 + index * (1 + workers)
        service_env = _service_env(env, name, port, base, metrics)
        # Its call lines go to the stack log, where the bench checks every call's code.
        argv = [sys.executable, "-m", services.ARTICLES.module]
        process = env.spawn(argv, service_env, env.stack_log)
        own = [f"127.0.0.1:{port}", *services.worker_targets(services.ARTICLES, service_env)]
        wait_serving(own, process, timeout=60)
        started.append(
            replace(
                untraced,
                name=name,
                url=untraced.url.replace(env.articles_target, own[0], 1),
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
