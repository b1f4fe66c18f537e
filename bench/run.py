"""`make bench`: start everything, seed the same data in both systems, drive every target
with h2load (pgbench for the database ceiling) in alternating rounds, report medians.

    python -m bench [--articles N] [--rounds R] [--duration S | --requests N] ...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from article_service import page_tokens
from bench import cpu, filters, report, seed, side_by_side, tools
from bench import tracing as traced_rows
from bench.environment import Environment
from bench.targets import (
    Target,
    build_scale_targets,
    build_targets,
    split_over_workers,
)
from devstack import pg_files
from devstack.launched import ROOT

RESULTS = ROOT / "bench" / "results"
PUBLISHED = ROOT / "bench" / "RESULTS.md"
PUBLISHED_CHART = ROOT / "bench" / "results.png"


def grpc_errors(log: Path, start: int, rpc: str) -> tuple[int, dict[str, int]]:
    """(calls, non-OK calls by status code) of `rpc` in our services' JSON call log after
    byte `start`."""
    calls = 0
    failures: dict[str, int] = {}
    with log.open("rb") as handle:
        handle.seek(start)
        for raw in handle:
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(entry, dict) or entry.get("method") != rpc or "code" not in entry:
                continue  # another call, or an error's own record (its call line follows)
            calls += 1
            if entry["code"] != "OK":
                failures[str(entry["code"])] = failures.get(str(entry["code"]), 0) + 1
    return calls, failures


def measure(
    target: Target, env: Environment, load: tools.Load, h1_load: tools.Load, h2load: str
) -> tools.Measured:
    start = env.stack_log.stat().st_size
    if target.pgbench is not None:
        clients = 4 * env.workers
        return tools.pgbench(
            pg_files.bindir() / "pgbench", env.superuser_url(), target.pgbench, load, clients
        )
    chosen = h1_load if target.http1 else load
    if target.streams is not None:  # one connection, this many streams
        chosen = replace(chosen, connections=1, streams=target.streams)
    # The server's command line names its pgdata (as root, not under the bench's data dir).
    marker = str(env.stack.postgres.pgdata)
    before = cpu.snapshot(env.pids, marker)
    result = tools.h2load(
        h2load,
        split_over_workers(target),
        chosen,
        env.workdir,
        body=target.body,
        headers=target.headers,
        http1=target.http1,
    )
    sent = result.done
    if chosen.duration is not None:  # h2load's count leaves the warm-up out; the CPU does not
        sent = round(result.rps * (chosen.duration + chosen.warmup))
    result.cpu_ms = cpu.per_request_ms(before, cpu.snapshot(env.pids, marker), sent)
    if target.rpc is not None:
        time.sleep(0.3)  # let the workers flush their last log lines
        calls, failures = grpc_errors(env.stack_log, start, target.rpc)
        # Calls h2load still had in flight when its time was up: it resets them and the
        # service logs CANCELLED (the client went away). Said, not counted as errors.
        abandoned = failures.pop("CANCELLED", 0)
        if abandoned:
            result.notes.append(f"{abandoned} calls cancelled by h2load at the end of its run")
        result.errors += sum(failures.values())
        if failures:
            codes = ", ".join(f"{code} x{count}" for code, count in sorted(failures.items()))
            result.notes.append(f"non-OK gRPC answers: {codes}")
        if calls < result.done:
            result.notes.append(
                f"only {calls} of {result.done} calls found in the service log: "
                "gRPC status partly unverified"
            )
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--articles", type=int, default=1000, help="articles seeded in each")
    parser.add_argument(
        "--scale",
        type=int,
        default=1_000_000,
        help="then top up to this many and measure the reads again (0: skip)",
    )
    parser.add_argument("--users", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="alternating A/B rounds")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per target")
    parser.add_argument("--warmup", type=float, default=1.0, help="h2load warm-up seconds")
    parser.add_argument("--requests", type=int, default=None, help="fixed count, not duration")
    parser.add_argument("--connections", type=int, default=4, help="HTTP/2 connections")
    parser.add_argument("--streams", type=int, default=16, help="streams per HTTP/2 connection")
    parser.add_argument("--h1-connections", type=int, default=64, help="HTTP/1.1 connections")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--side-rate",
        type=int,
        default=side_by_side.RATE,
        help="calls a second each service gets in the side-by-side overhead pairs",
    )
    parser.add_argument(
        "--side-only", action="store_true", help="only the side-by-side overhead pairs"
    )
    parser.add_argument("--only", default="", help="measure only targets whose name has this")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results go")
    parser.add_argument("--no-publish", action="store_true", help=f"do not write {PUBLISHED}")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny numbers: a check that everything works"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.articles, args.scale, args.users, args.rounds = 20, 200, 1, 1
        args.requests, args.connections, args.streams, args.h1_connections = 200, 2, 4, 4
        args.no_publish = True
    if args.scale and args.scale <= args.articles:
        parser.error("--scale must be above --articles (or 0)")
    if args.only or args.side_only:
        args.no_publish = True
    if args.side_only:
        args.only, args.scale = args.only or "GetArticle, ", 0
    return args


def run_rounds(
    targets: list[Target],
    rounds: int,
    measure_one: Callable[[Target], tools.Measured],
    runs: dict[str, list[tools.Measured]],
) -> None:
    """Alternating rounds: forward, then backward, so no target always follows the same one."""
    for index in range(rounds):
        order = targets if index % 2 == 0 else list(reversed(targets))
        for target in order:
            result = measure_one(target)
            runs.setdefault(target.name, []).append(result)
            print(
                f"round {index + 1}/{rounds} {target.name:<44} "
                f"{result.rps:>10.0f} req/s p50 {result.p50_ms:8.2f} ms "
                f"p99 {result.p99_ms:8.2f} ms errors {result.errors}",
                flush=True,
            )


def explain_lists(env: Environment, ours: seed.Seeded, deep: int, token_at: Any) -> str:
    """EXPLAIN ANALYZE of the listing statements as the service and the peer run them."""
    from article_service.db.statements import LISTINGS

    url = env.superuser_url()
    first = LISTINGS[False, False]
    keyset = LISTINGS[False, True]
    after_created_at, after_id = token_at
    plans = {
        "ours, first page": (first.sql, first.args(skip=0, limit=21)),
        f"ours, skip={deep}": (first.sql, first.args(skip=deep, limit=21)),
        f"ours, page token at {deep}": (
            keyset.sql,
            keyset.args(after_created_at=after_created_at, after_id=after_id, skip=0, limit=21),
        ),
        "ours, GET by id": (
            "SELECT * FROM articles.articles WHERE id = $1",
            [ours.first_id],
        ),
        "peer, first page (the reference's query)": (
            "SELECT * FROM peer.articles ORDER BY created_at DESC LIMIT 20 OFFSET 0",
            [],
        ),
        **filters.plans(ours),
    }
    out = [f"## Plans at {ours.count:,} articles", ""]
    for title, (sql, args) in plans.items():
        plan = asyncio.run(seed.explain(url, sql, *args))
        out += [f"### {title}", "", "```", sql, "", plan, "```", ""]
    return "\n".join(out)


def measure_everything(
    env: Environment, args: argparse.Namespace, measure: Callable[[Target], tools.Measured]
) -> tuple[list[Target], dict[str, list[tools.Measured]], list[str]]:
    """Seed both systems, measure every selected row in rounds (then again at --scale);
    (the rows, their measurements, the query plans at the large scale)."""
    url = env.superuser_url()
    print(f"seeding {args.users} users and {args.articles} articles in each", flush=True)
    ours = asyncio.run(seed.register_ours(env.auth_target, args.users))
    peer = asyncio.run(seed.register_peer(env.peer_url, args.users))
    for seeded in (ours, peer):
        asyncio.run(seed.copy_articles(url, seeded, args.articles))
    writers = {"ours": ours, "peer": peer}
    runs: dict[str, list[tools.Measured]] = {}
    plans: list[str] = []

    def measure_one(target: Target) -> tools.Measured:
        result = measure(target)
        if target.writes:  # keep the article count what the row says it is
            asyncio.run(seed.drop_created(url, writers[target.writes]))
        return result

    small = build_targets(env, ours, peer)
    small += traced_rows.targets(env, small, args.only)  # GetArticle traced at 100% / 1%
    targets = [t for t in small if args.only in t.name]
    if not args.side_only:
        run_rounds(targets, args.rounds, measure_one, runs)
    if args.scale:
        print(f"topping up to {args.scale:,} articles in each (COPY)", flush=True)
        copied = time.monotonic()
        for seeded in (ours, peer):
            asyncio.run(seed.copy_articles(url, seeded, args.scale))
        print(f"  done in {time.monotonic() - copied:.0f} s", flush=True)
        deep = args.scale // 2
        position = asyncio.run(seed.deep_position(url, ours, deep))
        token = page_tokens.encode_page_token(*position)
        plans.append(explain_lists(env, ours, deep, position))
        large = build_scale_targets(env, ours, peer, small, token, deep)
        large += filters.targets(env, ours)  # search and author_id, at the large scale only
        large = [t for t in large if args.only in t.name]
        targets += large
        run_rounds(large, args.rounds, measure_one, runs)
    return targets, runs, plans


def write_results(
    args: argparse.Namespace, rows: list[report.Row], settings: dict[str, Any], text: str,
    plans: list[str],
) -> None:  # fmt: skip
    """The run under --out (latest and a dated copy), and bench/RESULTS.md unless told not."""
    args.out.mkdir(parents=True, exist_ok=True)
    data = json.dumps({"settings": settings, "rows": [asdict(r) for r in rows]}, indent=2)
    for name in ("latest", time.strftime("%Y%m%d-%H%M%S")):
        (args.out / f"{name}.md").write_text(text)
        (args.out / f"{name}.json").write_text(data)
        (args.out / f"{name}-plans.md").write_text("\n".join(plans))
        report.chart(rows, args.out / f"{name}.png", settings)
    if not args.no_publish:
        PUBLISHED.write_text(text + "\n![chart](results.png)\n\n" + "\n".join(plans))
        report.chart(rows, PUBLISHED_CHART, settings)
        print(f"wrote {args.out / 'latest.md'}, {PUBLISHED} and {PUBLISHED_CHART}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    h2load = tools.ensure_h2load()
    duration = None if args.requests else args.duration
    load = tools.Load(args.connections, args.streams, duration, args.requests or 0, args.warmup)
    h1_load = tools.Load(args.h1_connections, 1, duration, args.requests or 0, args.warmup)
    workdir = Path(tempfile.mkdtemp(prefix="blog-bench-"))
    env = Environment(workdir, args.workers)
    print(f"starting the stack, the peer and the ceilings (work dir {workdir})", flush=True)
    started = time.monotonic()
    load_before = os.getloadavg()[0]  # other work on the machine: the noise to read with
    env.start()
    try:
        targets, runs, plans = measure_everything(
            env, args, lambda target: measure(target, env, load, h1_load, h2load)
        )
        side = side_by_side.measure(
            h2load, targets, args.rounds, load, env.workdir, rate=args.side_rate
        )
    finally:
        env.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    rows = report.summarize([(t.name, t.group, t.peer, t.ceiling, t.base) for t in targets], runs)
    settings = {
        "articles": args.articles,
        "scale": args.scale or None,
        "users": args.users,
        "rounds": args.rounds,
        "duration_s": duration,
        "warmup_s": args.warmup if duration else None,
        "requests": args.requests,
        "h2_connections": args.connections,
        "h2_streams": args.streams,
        "h1_connections": args.h1_connections,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "total_s": round(time.monotonic() - started, 1),
        "load_avg_1m_start_end": f"{load_before:.1f}/{os.getloadavg()[0]:.1f}",
    }
    text = (
        report.markdown(rows, settings)
        + traced_rows.overhead(runs)
        + side_by_side.report(side, rate=args.side_rate)
    )
    print("\n" + text)
    write_results(args, rows, settings, text, plans)
    return 0
