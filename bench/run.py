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
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from blog.articles.v1 import articles_pb2
from google.protobuf.message import Message

from article_service import page_tokens
from bench import cpu, report, seed, tools
from bench import tracing as traced_rows
from bench.environment import Environment
from devstack import postgres
from devstack.launched import ROOT

RESULTS = ROOT / "bench" / "results"
PUBLISHED = ROOT / "bench" / "RESULTS.md"
PUBLISHED_CHART = ROOT / "bench" / "results.png"
GRPC_HEADERS = {"content-type": "application/grpc", "te": "trailers"}
ARTICLES_RPC = "/blog.articles.v1.ArticleService/"
# Deep paging runs one request at a time (one connection, one stream): at the usual 64,
# deep skips queue past the services' 5 s statement timeout.
DEEP_STREAMS = 1


@dataclass
class Target:
    name: str
    group: str  # "ours gRPC", "ours REST", "peer", "ceiling"
    url: str = ""
    body: Path | None = None
    headers: dict[str, str] = field(default_factory=dict)
    http1: bool = False
    peer: str | None = None  # the peer row this one is compared with
    ceiling: str | None = None  # the ceiling row this one is a share of
    rpc: str | None = None  # our RPC behind it: non-OK codes are counted in the call log
    pgbench: Path | None = None
    base: str | None = None  # the same target at the small scale (for the p50 ratio)
    spread: tuple[str, ...] = ()  # more URLs, asked for in turn with `url` (other ids)
    # The workers' own ports: `url` is driven on each of them at once instead of the shared
    # port (gRPC rows; see split_over_workers).
    workers: tuple[int, ...] = ()
    streams: int | None = None  # concurrent streams in all, when not the run's usual load
    writes: str | None = None  # "ours" or "peer": whose created articles to drop after it


def framed(message: Message) -> bytes:
    """A gRPC length-prefixed message (uncompressed) as h2load sends it with -d."""
    payload = message.SerializeToString()
    return b"\0" + struct.pack(">I", len(payload)) + payload


def scale_label(count: int) -> str:
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if count >= size and count % size == 0:
            return f"{count // size}{suffix}"
    return str(count)


GET_ID, LIST_20, POST = "GET /articles/{id}", "GET /articles/?limit=20", "POST /articles/"
TRIVIAL_GRPC, TRIVIAL_REST, PG = (
    "ceiling: trivial gRPC",
    "ceiling: trivial via Envoy",
    "ceiling: PG",
)
# The trivial server's canned page of 20 articles: the ceilings of the list rows.
TRIVIAL_GRPC_LIST, TRIVIAL_REST_LIST = (
    "ceiling: trivial gRPC list (20)",
    "ceiling: trivial via Envoy list (20)",
)
# REST GETs cycle through this many articles (ours and the peer's alike), so no system is
# measured on one hot row; a gRPC request body is fixed, so gRPC GetArticle reads one id.
SPREAD = 100


class Bodies:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(exist_ok=True)

    def write(self, name: str, data: bytes) -> Path:
        path = self.folder / name
        path.write_bytes(data)
        return path


def build_targets(env: Environment, ours: seed.Seeded, peer: seed.Seeded) -> list[Target]:
    """Everything at the small scale: our six rows, the peer's three and the ceilings."""
    files = Bodies(env.workdir / "bodies")
    title, content = seed.article(0)
    get = files.write("get.bin", framed(articles_pb2.GetArticleRequest(id=ours.first_id)))
    page = files.write("list.bin", framed(articles_pb2.ListArticlesRequest(limit=20)))
    create = files.write(
        "create.bin",
        framed(articles_pb2.CreateArticleRequest(title=title, content=content, published=True)),
    )
    create_json = files.write(
        "create.json", json.dumps({"title": title, "content": content, "published": True}).encode()
    )
    ours_auth = {"authorization": f"Bearer {ours.tokens[0]}"}
    peer_auth = {"authorization": f"Bearer {peer.tokens[0]}"}
    json_type = {"content-type": "application/json"}
    grpc_articles = f"http://{env.articles_target}{ARTICLES_RPC}"
    gw, pr = env.gateway_url, env.peer_url
    ours_ids = _spread(ours.first_id)
    ours_workers = env.articles_workers
    peer_ids = _spread(peer.first_id)
    get_rpc, list_rpc, create_rpc = (
        ARTICLES_RPC + m for m in ("GetArticle", "ListArticles", "CreateArticle")
    )
    return [
        Target("gRPC GetArticle", "ours gRPC", grpc_articles + "GetArticle", get,
               GRPC_HEADERS, peer=f"peer {GET_ID}", ceiling=TRIVIAL_GRPC, rpc=get_rpc,
               workers=ours_workers),
        Target("gRPC ListArticles (20)", "ours gRPC", grpc_articles + "ListArticles", page,
               GRPC_HEADERS, peer=f"peer {LIST_20}", ceiling=TRIVIAL_GRPC_LIST, rpc=list_rpc,
               workers=ours_workers),
        Target("gRPC CreateArticle", "ours gRPC", grpc_articles + "CreateArticle", create,
               {**GRPC_HEADERS, **ours_auth}, peer=f"peer {POST}", ceiling=TRIVIAL_GRPC,
               rpc=create_rpc, writes="ours", workers=ours_workers),
        Target(f"REST {GET_ID}", "ours REST", f"{gw}/articles/{ours_ids[0]}",
               http1=True, peer=f"peer {GET_ID}", ceiling=TRIVIAL_REST, rpc=get_rpc,
               spread=tuple(f"{gw}/articles/{i}" for i in ours_ids[1:])),
        Target(f"REST {LIST_20}", "ours REST", f"{gw}/articles/?limit=20",
               http1=True, peer=f"peer {LIST_20}", ceiling=TRIVIAL_REST_LIST, rpc=list_rpc),
        Target(f"REST {POST}", "ours REST", f"{gw}/articles/", create_json,
               {**json_type, **ours_auth}, http1=True, peer=f"peer {POST}",
               ceiling=TRIVIAL_REST, rpc=create_rpc, writes="ours"),
        Target(f"peer {GET_ID}", "peer", f"{pr}/articles/{peer_ids[0]}", http1=True,
               spread=tuple(f"{pr}/articles/{i}" for i in peer_ids[1:])),
        Target(f"peer {LIST_20}", "peer", f"{pr}/articles/?limit=20", http1=True),
        Target(f"peer {POST}", "peer", f"{pr}/articles/", create_json,
               {**json_type, **peer_auth}, http1=True, writes="peer"),
        *_ceilings(env, files, ours, get, page),
    ]  # fmt: skip


def _ceilings(
    env: Environment, files: Bodies, ours: seed.Seeded, get: Path, page: Path
) -> list[Target]:
    """What the same requests cost without our services: the trivial server (straight and
    through Envoy) and PostgreSQL's own primary-key read (pgbench)."""
    trivial_workers = env.trivial_workers
    script = files.write(
        "select_pk.sql",
        (
            f"\\set id random(1, {ours.last_seeded_id})\n"
            "SELECT id, title, content, published, author_id, created_at, updated_at "
            "FROM articles.articles WHERE id = :id;\n"
        ).encode(),
    )
    return [
        Target(TRIVIAL_GRPC, "ceiling", f"{env.trivial_url}{ARTICLES_RPC}GetArticle", get,
               GRPC_HEADERS, workers=trivial_workers),
        Target(TRIVIAL_REST, "ceiling", f"{env.trivial_gateway_url}/articles/1", http1=True),
        Target(TRIVIAL_GRPC_LIST, "ceiling", f"{env.trivial_url}{ARTICLES_RPC}ListArticles",
               page, GRPC_HEADERS, workers=trivial_workers),
        Target(TRIVIAL_REST_LIST, "ceiling", f"{env.trivial_gateway_url}/articles/?limit=20",
               http1=True),
        Target(PG, "ceiling", pgbench=script),
    ]  # fmt: skip


def _spread(newest: int) -> list[int]:
    """The ids a spread GET reads: the newest seeded article and the ones before it."""
    return [newest - i for i in range(min(SPREAD, newest))]


def build_scale_targets(
    env: Environment,
    ours: seed.Seeded,
    peer: seed.Seeded,
    small: list[Target],
    deep_token: str,
    deep: int,
) -> list[Target]:
    """The read rows again at the large scale, and deep paging: skip vs page token."""
    label = scale_label(ours.count)
    files = Bodies(env.workdir / "bodies")
    by_name = {t.name: t for t in small}
    reads = ["gRPC GetArticle", "gRPC ListArticles (20)", f"REST {GET_ID}", f"REST {LIST_20}",
             f"peer {GET_ID}", f"peer {LIST_20}"]  # fmt: skip
    out = []
    for name in reads:
        target = by_name[name]
        out.append(
            replace(
                target,
                name=f"{name} @{label}",
                peer=f"{target.peer} @{label}" if target.peer else None,
                base=name,
            )
        )
    list_rpc = ARTICLES_RPC + "ListArticles"
    grpc_list = f"http://{env.articles_target}{list_rpc}"
    skipping = files.write(
        "deep-skip.bin", framed(articles_pb2.ListArticlesRequest(skip=deep, limit=20))
    )
    keyset = files.write(
        "deep-token.bin",
        framed(articles_pb2.ListArticlesRequest(limit=20, page_token=deep_token)),
    )
    place = scale_label(deep)
    out += [
        Target(f"gRPC ListArticles skip={place} @{label}", "ours gRPC", grpc_list, skipping,
               GRPC_HEADERS, rpc=list_rpc, streams=DEEP_STREAMS),
        Target(f"gRPC ListArticles page_token at {place} @{label}", "ours gRPC", grpc_list,
               keyset, GRPC_HEADERS, rpc=list_rpc, streams=DEEP_STREAMS),
    ]  # fmt: skip
    return out


def split_over_workers(target: Target) -> list[list[str]]:
    """The URLs h2load asks for, per address. A gRPC row goes to each worker's own port,
    as Envoy does: through the shared SO_REUSEPORT port the kernel places each connection
    by a hash of its ports, and 4 connections over 2 workers split 3-1 or 4-0 in most
    rounds, leaving one worker idle while the other saturates (2,026 against 5,576 req/s
    for the same GetArticle in one run)."""
    urls = [target.url, *target.spread]
    if not target.workers:
        return [urls]
    shared = urlsplit(target.url).netloc
    return [
        [url.replace(shared, f"{shared.rsplit(':', 1)[0]}:{port}", 1) for url in urls]
        for port in target.workers
    ]


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
            postgres.bindir() / "pgbench", env.superuser_url(), target.pgbench, load, clients
        )
    chosen = h1_load if target.http1 else load
    if target.streams is not None:  # one connection, this many streams
        chosen = replace(chosen, connections=1, streams=target.streams)
    marker = str(env.data_dir)
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
    if args.only:
        args.no_publish = True
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
    text = report.markdown(rows, settings) + traced_rows.overhead(runs)
    print("\n" + text)
    write_results(args, rows, settings, text, plans)
    return 0
