"""Overhead measured side by side: the control's article service and one other row's driven
at the same time, at the same fixed rate, each judged on its own CPU per request.

Rows measured one after the other (bench.tracing's table) inherit every change in what else
the machine is doing: on the 2-core machines this runs on, two identical services measured
rounds apart differ by 5-40% in throughput. Two services measured in the same seconds share
that noise, so the ratio of their CPU per request keeps only what differs between them. The
rate is fixed, below saturation, so both batch their reads alike and neither starves the
other.

How it relates to throughput: at saturation, throughput is the CPU available divided by the
CPU a request costs. But a saturated service batches more calls per statement, so its
request costs less (about 0.5 ms of article-service CPU, against 0.7 ms at 600 calls a
second each) and the same per-call cost of a feature is a larger share of it: this table
understates the saturated cost by about that factor. The sequential rows measure
saturation directly, with the noise this one avoids.
"""

from __future__ import annotations

import statistics
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench import cpu, tools
from bench.targets import split_over_workers
from bench.tracing import AGAIN, CONTROL, SAMPLED, quartiles, spread, verdict

if TYPE_CHECKING:
    from bench.targets import Target

# Requests a second each service of a pair gets: together about half of what this machine's
# two cores serve, so neither is starved and the load generator keeps its rate.
RATE = 600


@dataclass
class Paired:
    """One round of a row against the control: each one's CPU ms per request and req/s."""

    cpu_ms: tuple[float, float]
    rps: tuple[float, float]


def _service_cpu(pid: int) -> float:
    """CPU seconds so far of a service's process tree (supervisor and workers)."""
    return sum(seconds for _part, seconds in cpu.snapshot([pid], "").values())


def _one_round(
    h2load: str, pair: tuple[Target, Target], load: tools.Load, rate: int, workdir: Path
) -> list[tuple[float, float]]:
    """Both rows driven at once: each one's (CPU ms per request, req/s), in `pair`'s order."""
    pids = [target.service_pid for target in pair]
    before = [_service_cpu(pid) for pid in pids if pid is not None]
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = [
            pool.submit(
                tools.h2load,
                h2load,
                split_over_workers(target),
                load,
                workdir,
                body=target.body,
                headers=target.headers,
                rate=rate,
                tag=f"side-{index}",
            )
            for index, target in enumerate(pair)
        ]
        measured = [run.result() for run in runs]
    after = [_service_cpu(pid) for pid in pids if pid is not None]
    return [
        ((end - start) * 1000 / _sent(m, load), m.rps)
        for start, end, m in zip(before, after, measured, strict=True)
    ]


def _sent(measured: tools.Measured, load: tools.Load) -> float:
    """Requests a run cost CPU for: h2load counts none of its warm-up's, the CPU does."""
    if load.duration is None:
        return max(1.0, measured.done)
    return max(1.0, measured.rps * (load.duration + load.warmup))


def measure(
    h2load: str,
    rows: list[Target],
    rounds: int,
    load: tools.Load,
    workdir: Path,
    rate: int = RATE,
) -> dict[str, list[Paired]]:
    """Every selected row with a service of its own, against the control, `rounds` times,
    which of the two is started first alternating; nothing if the control is not selected."""
    by_name = {row.name: row for row in rows if row.service_pid is not None}
    control = by_name.get(CONTROL)
    if control is None:
        return {}
    others = [by_name[name] for name in SAMPLED if name in by_name and name != CONTROL]
    results: dict[str, list[Paired]] = {}
    for index in range(rounds):
        for other in others:
            pair = (other, control) if index % 2 else (control, other)
            measured = _one_round(h2load, pair, load, rate, workdir)
            done = dict(zip([t.name for t in pair], measured, strict=True))
            ours, off = done[other.name], done[CONTROL]
            results.setdefault(other.name, []).append(Paired((off[0], ours[0]), (off[1], ours[1])))
            print(
                f"side by side {index + 1}/{rounds} {other.name:<48} CPU per request "
                f"{ours[0]:.3f} ms vs {off[0]:.3f} ms",
                flush=True,
            )
    return results


def report(results: dict[str, list[Paired]], rate: int = RATE) -> str:
    """The side-by-side table: each row's CPU per request against the control's, per round,
    as a median with the middle half of the rounds; the issue's targets judged on it."""
    if not results:
        return ""
    floor = None
    if AGAIN in results:
        again = [p.cpu_ms[1] / p.cpu_ms[0] for p in results[AGAIN] if p.cpu_ms[0] > 0]
        floor = abs(quartiles(again)[1] - 1) if again else None
    lines = []
    for name, pairs in results.items():
        ratios = [p.cpu_ms[1] / p.cpu_ms[0] for p in pairs if p.cpu_ms[0] > 0]
        if not ratios:  # too few requests for /proc's clock ticks to see (a smoke run)
            continue
        own = statistics.median(p.cpu_ms[1] for p in pairs)
        rps = statistics.median(p.rps[1] for p in pairs)
        cost = quartiles(ratios)[1] - 1
        lines.append(
            f"| {name.removeprefix('gRPC GetArticle, ')} | {own:.3f} "
            f"| {spread(ratios, cost=True)} | {rps:,.0f} | {verdict(name, cost, floor)} "
            f"| {len(pairs)} |"
        )
    if not lines:
        return ""
    return "\n".join(
        [
            "",
            f"Side by side: each row's article service and the control's driven at the same "
            f"time, {rate} GetArticle calls a second each; the article service's CPU per "
            "request against the control's in the same seconds (median, and the middle half "
            "of the rounds). A saturated service's requests cost less, so there the same "
            "per-call cost is a larger share (bench/side_by_side.py).",
            "",
            "| row | CPU ms per request | vs off | req/s | target | rounds |",
            "| --- | ---: | --- | ---: | --- | ---: |",
            *lines,
        ]
    )
