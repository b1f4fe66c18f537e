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
import statistics
import sys
from dataclasses import replace
from typing import TYPE_CHECKING

from devstack import services
from devstack.ports import free_port_block
from devstack.probe import wait_serving

if TYPE_CHECKING:
    from bench import tools
    from bench.environment import Environment
    from bench.targets import Target

UNTRACED = "gRPC GetArticle"
# The control: a service started exactly as the others, without an OTLP endpoint and with
# metrics off, so each ratio compares one feature alone (not how the process was started).
CONTROL = "gRPC GetArticle, metrics and tracing off"
# A second control, started the same way: its ratio to the first is the method's own noise,
# the floor under which no other row's difference means anything.
AGAIN = "gRPC GetArticle, metrics and tracing off, again"
METRICS = "gRPC GetArticle, metrics on"
TRACED_1 = "gRPC GetArticle, traced 1%"
# Row name -> OTEL_TRACES_SAMPLER_ARG (parentbased_traceidratio); None: no endpoint.
SAMPLED: dict[str, str | None] = {
    CONTROL: None,
    METRICS: None,
    TRACED_1: "0.01",
    AGAIN: None,
    "gRPC GetArticle, traced 100%": "1",
}
# The targets: the share of GetArticle throughput each feature may cost.
TARGETS = {METRICS: 0.05, TRACED_1: 0.05}


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
                service_pid=process.pid,
            )
        )
    if sink.poll() is not None:
        raise RuntimeError("the OTLP sink exited")
    return started


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """(lower quartile, median, upper quartile): the middle half of the rounds."""
    if len(values) < 2:
        return values[0], values[0], values[0]
    low, middle, high = statistics.quantiles(values, n=4, method="inclusive")
    return low, middle, high


def _paired(
    off: list[tools.Measured], row: list[tools.Measured]
) -> tuple[list[float], list[float]]:
    """Per round, the row against the control measured in that same round: (throughput
    ratios, ratios of the article service's CPU per request)."""
    rps = [r.rps / o.rps for o, r in zip(off, row, strict=False) if o.rps > 0]
    cpu = [
        r.cpu_ms["articles"] / o.cpu_ms["articles"]
        for o, r in zip(off, row, strict=False)
        if o.cpu_ms.get("articles") and r.cpu_ms.get("articles")
    ]
    return rps, cpu


def spread(ratios: list[float], *, cost: bool) -> str:
    """`ratios` as a median with its middle half, e.g. "0.981 (0.962..0.998)"; as a change
    in percent (+2.1% (+0.4%..+3.9%)) when `cost`."""
    if not ratios:
        return "-"
    low, middle, high = quartiles(ratios)
    if cost:
        return f"{middle - 1:+.1%} ({low - 1:+.1%}..{high - 1:+.1%})"
    return f"{middle:.3f} ({low:.3f}..{high:.3f})"


def verdict(name: str, cost: float | None, floor: float | None) -> str:
    """Row `name`'s `cost` (a share, 0.03 is 3%) against its target, "within the noise"
    when the second control moved as far (`floor`); "-" for rows with no target."""
    target = TARGETS.get(name)
    if target is None or cost is None:
        return "-"
    said = "met" if cost < target else "missed"
    if floor is not None and abs(cost) <= floor:
        said += ", within the noise"
    return f"{cost:.1%} cost, under {target:.0%}: {said}"


def overhead(runs: dict[str, list[tools.Measured]]) -> str:
    """Each row against the control, round by round (rows of one round ran minutes apart at
    most, and the order alternates), as medians with the middle half of the rounds."""
    off = runs.get(CONTROL)
    if not off:
        return ""
    again = runs.get(AGAIN)
    floor = None
    if again:  # the control against itself: how far apart two identical services measure
        floor = abs(1 - quartiles(_paired(off, again)[0])[1])
    lines = []
    for name in SAMPLED:
        row = runs.get(name) if name != CONTROL else None
        if not row:
            continue
        rps, cpu = _paired(off, row)
        cost = 1 - quartiles(rps)[1] if rps else None
        lines.append(
            f"| {name.removeprefix('gRPC GetArticle, ')} | {spread(rps, cost=False)} "
            f"| {spread(cpu, cost=True)} | {verdict(name, cost, floor)} | {len(rps)} |"
        )
    if not lines:
        return ""
    return "\n".join(
        [
            "",
            f"Metrics and tracing overhead on GetArticle, each row against {CONTROL!r} "
            "measured in the same round (median, and the middle half of the rounds):",
            "",
            "| row | throughput vs off | article service CPU per request vs off "
            "| target | rounds |",
            "| --- | --- | --- | --- | --- |",
            *lines,
        ]
    )
