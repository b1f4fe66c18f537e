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

import asyncpg

from soak import memory
from soak.stack import RunningStack, running_stack, stop_on_sigterm
from soak.traffic import ACCOUNT_PREFIX, TITLE_PREFIX, Ledger, State, Stats, drive

LOGIN_RATE_PER_MINUTE = 100_000
CLEANUP_GRACE_SECONDS = 30.0


@dataclass
class Verdict:
    lost: list[str] = field(default_factory=list)
    unexpected_rows: list[str] = field(default_factory=list)
    recovered: int = 0
    resurrected: list[str] = field(default_factory=list)
    not_cleaned: list[str] = field(default_factory=list)
    checked_articles: int = 0
    checked_accounts: int = 0

    @property
    def ok(self) -> bool:
        return not (self.lost or self.unexpected_rows or self.resurrected or self.not_cleaned)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


async def _rows(url: str) -> tuple[dict[int, asyncpg.Record], set[int], set[int]]:
    """The soak's articles and accounts (named soak_*), and every deleted user id."""
    conn = await asyncpg.connect(url)
    try:
        users = {
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM auth.users WHERE username LIKE $1", f"{ACCOUNT_PREFIX}%"
            )
        }
        articles = {
            r["id"]: r
            for r in await conn.fetch(
                "SELECT id, author_id, title, content, published FROM articles.articles"
                " WHERE title LIKE $1",
                f"{TITLE_PREFIX}%",
            )
        }
        deleted = {
            r["user_id"] for r in await conn.fetch("SELECT user_id FROM articles.deleted_users")
        }
    finally:
        await conn.close()
    return articles, users, deleted


async def verify(url: str, ledger: Ledger) -> Verdict:
    """Compare what PostgreSQL holds (`url`: as its superuser) with what was acknowledged."""
    gone = {a.id for a in ledger.accounts.values() if a.state is State.DELETED}
    deadline = time.monotonic() + CLEANUP_GRACE_SECONDS
    while True:  # the account feed removes deleted authors' articles asynchronously
        articles, users, deleted_users = await _rows(url)
        leftovers = [r for r in articles.values() if r["author_id"] in gone]
        if not leftovers or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    verdict = Verdict()
    verdict.not_cleaned = [f"article {r['id']} of deleted user {r['author_id']}" for r in leftovers]
    for article in ledger.articles.values():
        row = articles.get(article.id)
        if article.author.state is not State.LIVE:
            continue  # its author's deletion (sent) removes it; checked above
        if article.state is State.DELETED:
            if row is not None:
                verdict.resurrected.append(f"article {article.id} deleted (204) but still there")
            continue
        verdict.checked_articles += 1
        if row is None:
            verdict.lost.append(f"article {article.id} acknowledged, missing")
        elif row["content"] != article.content or row["published"] != article.published:
            verdict.lost.append(f"article {article.id} differs from its last acknowledged state")
        elif article.title != "?" and row["title"] != article.title:
            verdict.lost.append(
                f"article {article.id}: title {row['title']!r} != {article.title!r}"
            )
    known = set(ledger.articles)
    maybe = list(ledger.indeterminate_creates)
    for row in articles.values():
        if row["id"] in known or row["author_id"] in gone:
            continue
        if (row["author_id"], row["title"]) in maybe:
            maybe.remove((row["author_id"], row["title"]))
            verdict.recovered += 1
        else:
            verdict.unexpected_rows.append(f"article {row['id']} nobody was told of")
    for account in ledger.accounts.values():
        if account.state is State.LIVE:
            verdict.checked_accounts += 1
            if account.id not in users:
                verdict.lost.append(f"account {account.id} acknowledged, missing")
        elif account.state is State.DELETED and account.id in users:
            verdict.resurrected.append(f"account {account.id} deleted (204) but still there")
    unknown_users = users - set(ledger.accounts)
    if len(unknown_users) > len(ledger.indeterminate_registrations):
        verdict.unexpected_rows.append(f"{len(unknown_users)} accounts nobody was told of")
    missing_tombstones = gone - deleted_users
    verdict.not_cleaned += [f"user {uid} not in deleted_users" for uid in missing_tombstones]
    return verdict


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


async def soak(args: argparse.Namespace, stack: RunningStack) -> int:
    ledger, stats = Ledger(), Stats()
    seconds = args.minutes * 60
    warmup = min(60.0, seconds * 0.2)
    root = stack.process.pid
    timeline: list[tuple[float, dict[str, int]]] = []
    started = time.monotonic()
    task = asyncio.create_task(drive(stack.gateway_url, args.workers, seconds, ledger, stats))
    first = memory.sample(root)
    timeline.append((0.0, first.by_kind()))
    await asyncio.sleep(warmup)
    baseline = memory.sample(root)
    timeline.append((time.monotonic() - started, baseline.by_kind()))
    while not task.done():
        await asyncio.wait({task}, timeout=30)
        timeline.append((time.monotonic() - started, memory.sample(root).by_kind()))
    await task
    elapsed = time.monotonic() - started
    final = memory.sample(root)
    verdict = await verify(stack.superuser_url(), ledger)

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
    unexpected = sum(stats.unexpected.values())
    print(f"\nunexpected answers: {unexpected}")
    for sample in stats.samples:
        print(f"  {sample}")
    print(f"\nmemory (warm-up {warmup:.0f} s; bound: each service +{args.rss_growth_mib} MiB):")
    print("\n".join(_memory_table(baseline, final)))
    growth = {
        kind: final.by_kind().get(kind, 0) - baseline.by_kind().get(kind, 0)
        for kind in memory.SERVICES
    }
    too_big = {k: g for k, g in growth.items() if g > args.rss_growth_mib * 2**20}
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
    failures = []
    if unexpected:
        failures.append(f"{unexpected} unexpected answers")
    if too_big:
        failures += [f"{k} grew {memory.mib(g)}" for k, g in too_big.items()]
    if not verdict.ok:
        failures.append("the ledger check failed")
    print("\nPASS" if not failures else f"\nFAIL: {'; '.join(failures)}")
    if args.json:
        result: dict[str, Any] = {
            "minutes": args.minutes,
            "load_average": os.getloadavg(),
            "workers": args.workers,
            "elapsed_s": elapsed,
            "requests": stats.requests,
            "throughput": stats.requests / elapsed,
            "operations": {
                op: {
                    "requests": len(v),
                    "p50_ms": percentile(v, 0.5) * 1000,
                    "p99_ms": percentile(v, 0.99) * 1000,
                }
                for op, v in stats.latencies.items()
            },
            "statuses": {f"{op} {status}": n for (op, status), n in stats.statuses.items()},
            "unexpected": unexpected,
            "memory_timeline": timeline,
            "rss_growth": growth,
            "ledger": {
                "lost": verdict.lost,
                "unexpected": verdict.unexpected_rows,
                "recovered": verdict.recovered,
                "resurrected": verdict.resurrected,
                "not_cleaned": verdict.not_cleaned,
            },
            "passed": not failures,
        }
        await asyncio.to_thread(Path(args.json).write_text, json.dumps(result, indent=2))
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
    extra = {"GATEWAY_LOGIN_RATE_PER_MINUTE": str(LOGIN_RATE_PER_MINUTE)}
    stop_on_sigterm()
    with running_stack(args.service_workers, extra, keep=args.keep) as stack:
        return asyncio.run(soak(args, stack))


if __name__ == "__main__":
    sys.exit(main())
