"""`make soak`: mixed traffic through the gateway for a set time, then the figures and checks.

    python -m soak [--minutes 10] [--workers 8] [--rss-growth-mib 50] [--json PATH]

Starts the stack as `make run` does (on free ports, in a temporary data dir), drives reads,
writes, logins, registrations, account deletions and updates through the gateway, and
reports throughput, p50/p99 per operation, statuses seen, and the RSS of every service
process at the end of warm-up and at the end. It fails (exit 1) on:

- any unexpected answer (each request has one right status; see soak/traffic.py),
- a service whose processes together grew by more than --rss-growth-mib after warm-up,
- anything lost: an acknowledged article missing or not as last acknowledged, unless it
  or its author was deleted; an article or account nobody asked for; a deleted
  article still there; a deleted author's articles still there after the feed's grace.

The gateway's login rate limit (30/min by default, tested in the e2e suite) is raised to
GATEWAY_LOGIN_RATE_PER_MINUTE=100000 here: the soak measures the services, and ~3% of
its requests are logins.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.launched import LaunchedStack, launched, stop_on_sigterm
from soak import memory
from soak.traffic import Ledger, Stats, drive
from soak.verify import Verdict, verify

LOGIN_RATE_PER_MINUTE = 100_000


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


def _memory_table(start: memory.Sample, end: memory.Sample) -> list[str]:
    lines = [
        "| process | count | RSS after warm-up | RSS at end | growth |",
        "|---|---:|---:|---:|---:|",
    ]
    before, after = start.by_kind(), end.by_kind()
    for _needle, kind in memory.KINDS:
        if kind in before or kind in after:
            a, b = before.get(kind, 0), after.get(kind, 0)
            lines.append(
                f"| {kind} | {end.count(kind)} | {memory.mib(a)} | {memory.mib(b)} | "
                f"{(b - a) / 2**20:+.1f} MiB |"
            )
    return lines


@dataclass
class Run:
    """What one soak measured: the traffic's figures and the services' memory over time."""

    ledger: Ledger = field(default_factory=Ledger)
    stats: Stats = field(default_factory=Stats)
    warmup: float = 0.0
    elapsed: float = 0.0
    timeline: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    baseline: memory.Sample = field(default_factory=lambda: memory.Sample({}))
    final: memory.Sample = field(default_factory=lambda: memory.Sample({}))

    def growth(self) -> dict[str, int]:
        """Each service's RSS growth after warm-up, in bytes."""
        before, after = self.baseline.by_kind(), self.final.by_kind()
        return {kind: after.get(kind, 0) - before.get(kind, 0) for kind in memory.SERVICES}


async def _drive(args: argparse.Namespace, stack: LaunchedStack) -> Run:
    """The traffic for `args.minutes`, sampling the stack's memory every 30 s."""
    run = Run()
    seconds = args.minutes * 60
    run.warmup = min(60.0, seconds * 0.2)
    assert stack.process is not None
    root = stack.process.pid
    started = time.monotonic()
    task = asyncio.create_task(
        drive(stack.gateway_url, args.workers, seconds, run.ledger, run.stats)
    )
    run.timeline.append((0.0, memory.sample(root).by_kind()))
    await asyncio.sleep(run.warmup)
    run.baseline = memory.sample(root)
    run.timeline.append((time.monotonic() - started, run.baseline.by_kind()))
    while not task.done():
        await asyncio.wait({task}, timeout=30)
        run.timeline.append((time.monotonic() - started, memory.sample(root).by_kind()))
    await task
    run.elapsed = time.monotonic() - started
    run.final = memory.sample(root)
    return run


def _print_traffic(args: argparse.Namespace, run: Run) -> None:
    stats, elapsed = run.stats, run.elapsed
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nSoak: {args.minutes:g} min, {args.workers} clients, {stats.requests} requests")
    print(f"machine: {os.cpu_count()} CPUs, load average at the end {load} (1, 5, 15 min)")
    print(f"throughput: {stats.requests / elapsed:.1f} req/s over {elapsed:.0f} s\n")
    print("| operation | requests | req/s | p50 ms | p99 ms | statuses |")
    print("|---|---:|---:|---:|---:|---|")
    everything: list[float] = []
    for op, values in sorted(stats.latencies.items()):
        everything += values
        seen = ", ".join(
            f"{status}: {count}" for (o, status), count in sorted(stats.statuses.items()) if o == op
        )
        p50, p99 = percentile(values, 0.5) * 1000, percentile(values, 0.99) * 1000
        print(
            f"| {op} | {len(values)} | {len(values) / elapsed:.1f} | "
            f"{p50:.1f} | {p99:.1f} | {seen} |"
        )
    print(
        f"| all | {len(everything)} | {len(everything) / elapsed:.1f} | "
        f"{percentile(everything, 0.5) * 1000:.1f} | {percentile(everything, 0.99) * 1000:.1f} | |"
    )
    print(f"\nunexpected answers: {sum(stats.unexpected.values())}")
    for sample in stats.samples:
        print(f"  {sample}")


def _print_checks(args: argparse.Namespace, run: Run, verdict: Verdict) -> None:
    print(f"\nmemory (warm-up {run.warmup:.0f} s; bound: each service +{args.rss_growth_mib} MiB):")
    print("\n".join(_memory_table(run.baseline, run.final)))
    print(
        f"\nledger: {verdict.checked_articles} live articles and {verdict.checked_accounts} "
        f"accounts checked; lost {len(verdict.lost)}, unexpected {len(verdict.unexpected_rows)}, "
        f"recovered {verdict.recovered}, deleted but present {len(verdict.resurrected)}, "
        f"not cleaned {len(verdict.not_cleaned)}"
    )
    for line in (
        verdict.lost + verdict.unexpected_rows + verdict.resurrected + verdict.not_cleaned
    )[:20]:
        print(f"  {line}")


def _failures(args: argparse.Namespace, run: Run, verdict: Verdict) -> list[str]:
    failures = []
    unexpected = sum(run.stats.unexpected.values())
    if unexpected:
        failures.append(f"{unexpected} unexpected answers")
    bound = args.rss_growth_mib * 2**20
    failures += [f"{k} grew {memory.mib(g)}" for k, g in run.growth().items() if g > bound]
    if not verdict.ok:
        failures.append("the ledger check failed")
    return failures


def _figures(args: argparse.Namespace, run: Run, verdict: Verdict, passed: bool) -> dict[str, Any]:
    """What --json writes."""
    stats = run.stats
    return {
        "minutes": args.minutes,
        "load_average": os.getloadavg(),
        "workers": args.workers,
        "elapsed_s": run.elapsed,
        "requests": stats.requests,
        "throughput": stats.requests / run.elapsed,
        "operations": {
            op: {
                "requests": len(v),
                "p50_ms": percentile(v, 0.5) * 1000,
                "p99_ms": percentile(v, 0.99) * 1000,
            }
            for op, v in stats.latencies.items()
        },
        "statuses": {f"{op} {status}": n for (op, status), n in stats.statuses.items()},
        "unexpected": sum(stats.unexpected.values()),
        "memory_timeline": run.timeline,
        "rss_growth": run.growth(),
        "ledger": {
            "lost": verdict.lost,
            "unexpected": verdict.unexpected_rows,
            "recovered": verdict.recovered,
            "resurrected": verdict.resurrected,
            "not_cleaned": verdict.not_cleaned,
        },
        "passed": passed,
    }


async def soak(args: argparse.Namespace, stack: LaunchedStack) -> int:
    run = await _drive(args, stack)
    verdict = await verify(stack.superuser_url(), run.ledger)
    _print_traffic(args, run)
    _print_checks(args, run, verdict)
    failures = _failures(args, run, verdict)
    print("\nPASS" if not failures else f"\nFAIL: {'; '.join(failures)}")
    if args.json:
        text = json.dumps(_figures(args, run, verdict, not failures), indent=2)
        await asyncio.to_thread(Path(args.json).write_text, text)
    return 0 if not failures else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m soak", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=8, help="concurrent clients")
    parser.add_argument("--service-workers", type=int, default=2, help="processes per service")
    parser.add_argument("--rss-growth-mib", type=int, default=50)
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--keep", type=Path, help="keep the stack's files (logs) here")
    args = parser.parse_args(argv)
    stop_on_sigterm()
    with launched(
        args.keep,
        workers=args.service_workers,
        GATEWAY_LOGIN_RATE_PER_MINUTE=str(LOGIN_RATE_PER_MINUTE),
    ) as stack:
        return asyncio.run(soak(args, stack))


if __name__ == "__main__":
    sys.exit(main())
