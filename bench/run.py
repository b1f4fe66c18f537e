"""`make bench`: start everything, seed the same data in both systems, drive every target
with h2load (pgbench for the database ceiling) in alternating rounds, report medians.

    python -m bench [--articles N] [--rounds R] [--duration S | --requests N] ...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import struct
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from blog.articles.v1 import articles_pb2
from google.protobuf.message import Message

from bench import report, seed, tools
from bench.environment import ROOT, Environment
from devstack import postgres

RESULTS = ROOT / "bench" / "results"
PUBLISHED = ROOT / "bench" / "RESULTS.md"
GRPC_HEADERS = {"content-type": "application/grpc", "te": "trailers"}
ARTICLES_RPC = "/blog.articles.v1.ArticleService/"


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


def framed(message: Message) -> bytes:
    """A gRPC length-prefixed message (uncompressed) as h2load sends it with -d."""
    payload = message.SerializeToString()
    return b"\0" + struct.pack(">I", len(payload)) + payload


def build_targets(env: Environment, ours: seed.Seeded, peer: seed.Seeded) -> list[Target]:
    files = env.workdir / "bodies"
    files.mkdir(exist_ok=True)
    title, content = seed.article(0)

    def write(name: str, data: bytes) -> Path:
        path = files / name
        path.write_bytes(data)
        return path

    get = write("get.bin", framed(articles_pb2.GetArticleRequest(id=ours.article_ids[0])))
    page = write("list.bin", framed(articles_pb2.ListArticlesRequest(limit=20)))
    create = write(
        "create.bin",
        framed(articles_pb2.CreateArticleRequest(title=title, content=content, published=True)),
    )
    create_json = write(
        "create.json", json.dumps({"title": title, "content": content, "published": True}).encode()
    )
    ours_auth = {"authorization": f"Bearer {ours.tokens[0]}"}
    peer_auth = {"authorization": f"Bearer {peer.tokens[0]}"}
    json_type = {"content-type": "application/json"}
    grpc_articles = f"http://{env.articles_target}{ARTICLES_RPC}"
    gw, pr = env.gateway_url, env.peer_url
    script = write(
        "select_pk.sql",
        (
            f"\\set id random({min(ours.article_ids)}, {max(ours.article_ids)})\n"
            "SELECT id, title, content, published, author_id, created_at, updated_at "
            "FROM articles.articles WHERE id = :id;\n"
        ).encode(),
    )
    get_rpc, list_rpc, create_rpc = (
        ARTICLES_RPC + m for m in ("GetArticle", "ListArticles", "CreateArticle")
    )
    triv_grpc, triv_rest, pg = "ceiling: trivial gRPC", "ceiling: trivial via Envoy", "ceiling: PG"
    return [
        Target("gRPC GetArticle", "ours gRPC", grpc_articles + "GetArticle", get,
               GRPC_HEADERS, peer="peer GET /articles/{id}", ceiling=triv_grpc, rpc=get_rpc),
        Target("gRPC ListArticles (20)", "ours gRPC", grpc_articles + "ListArticles", page,
               GRPC_HEADERS, peer="peer GET /articles/?limit=20", ceiling=triv_grpc,
               rpc=list_rpc),
        Target("gRPC CreateArticle", "ours gRPC", grpc_articles + "CreateArticle", create,
               {**GRPC_HEADERS, **ours_auth}, peer="peer POST /articles/", ceiling=triv_grpc,
               rpc=create_rpc),
        Target("REST GET /articles/{id}", "ours REST", f"{gw}/articles/{ours.article_ids[0]}",
               http1=True, peer="peer GET /articles/{id}", ceiling=triv_rest, rpc=get_rpc),
        Target("REST GET /articles/?limit=20", "ours REST", f"{gw}/articles/?limit=20",
               http1=True, peer="peer GET /articles/?limit=20", ceiling=triv_rest,
               rpc=list_rpc),
        Target("REST POST /articles/", "ours REST", f"{gw}/articles/", create_json,
               {**json_type, **ours_auth}, http1=True, peer="peer POST /articles/",
               ceiling=triv_rest, rpc=create_rpc),
        Target("peer GET /articles/{id}", "peer", f"{pr}/articles/{peer.article_ids[0]}",
               http1=True),
        Target("peer GET /articles/?limit=20", "peer", f"{pr}/articles/?limit=20", http1=True),
        Target("peer POST /articles/", "peer", f"{pr}/articles/", create_json,
               {**json_type, **peer_auth}, http1=True),
        Target(triv_grpc, "ceiling", f"{env.trivial_url}{ARTICLES_RPC}GetArticle", get,
               GRPC_HEADERS),
        Target(triv_rest, "ceiling", f"{env.trivial_gateway_url}/articles/1", http1=True),
        Target(pg, "ceiling", pgbench=script),
    ]  # fmt: skip


def grpc_errors(log: Path, start: int, rpc: str) -> tuple[int, int]:
    """(calls, non-OK calls) of `rpc` in our services' JSON call log after byte `start`."""
    calls = failures = 0
    with log.open("rb") as handle:
        handle.seek(start)
        for raw in handle:
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(entry, dict) or entry.get("method") != rpc:
                continue
            calls += 1
            if entry["code"] != "OK":
                failures += 1
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
    result = tools.h2load(
        h2load,
        target.url,
        h1_load if target.http1 else load,
        env.workdir,
        body=target.body,
        headers=target.headers,
        http1=target.http1,
    )
    if target.rpc is not None:
        time.sleep(0.3)  # let the workers flush their last log lines
        calls, failures = grpc_errors(env.stack_log, start, target.rpc)
        result.errors += failures
        if calls < result.done:
            result.notes.append(
                f"only {calls} of {result.done} calls found in the service log: "
                "gRPC status partly unverified"
            )
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--articles", type=int, default=1000, help="articles seeded in each")
    parser.add_argument("--users", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="alternating A/B rounds")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per target")
    parser.add_argument("--warmup", type=float, default=1.0, help="h2load warm-up seconds")
    parser.add_argument("--requests", type=int, default=None, help="fixed count, not duration")
    parser.add_argument("--connections", type=int, default=4, help="HTTP/2 connections")
    parser.add_argument("--streams", type=int, default=16, help="streams per HTTP/2 connection")
    parser.add_argument("--h1-connections", type=int, default=64, help="HTTP/1.1 connections")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results go")
    parser.add_argument("--no-publish", action="store_true", help=f"do not write {PUBLISHED}")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny numbers: a check that everything works"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.articles, args.users, args.rounds = 20, 1, 1
        args.requests, args.connections, args.streams, args.h1_connections = 200, 2, 4, 4
        args.no_publish = True
    return args


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
    env.start()
    try:
        print(f"seeding {args.users} users and {args.articles} articles in each", flush=True)
        ours = asyncio.run(
            seed.seed_ours(env.auth_target, env.articles_target, args.users, args.articles)
        )
        peer = asyncio.run(seed.seed_peer(env.peer_url, args.users, args.articles))
        targets = build_targets(env, ours, peer)
        runs: dict[str, list[tools.Measured]] = {t.name: [] for t in targets}
        for index in range(args.rounds):
            order = targets if index % 2 == 0 else list(reversed(targets))
            for target in order:
                result = measure(target, env, load, h1_load, h2load)
                runs[target.name].append(result)
                print(
                    f"round {index + 1}/{args.rounds} {target.name:<32} "
                    f"{result.rps:>10.0f} req/s p50 {result.p50_ms:7.2f} ms "
                    f"p99 {result.p99_ms:7.2f} ms errors {result.errors}",
                    flush=True,
                )
    finally:
        env.close()
        if not args.keep:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    rows = report.summarize([(t.name, t.group, t.peer, t.ceiling) for t in targets], runs)
    settings = {
        "articles": args.articles,
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
    }
    text = report.markdown(rows, settings)
    print("\n" + text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.md").write_text(text)
    (args.out / "latest.json").write_text(
        json.dumps({"settings": settings, "rows": [asdict(r) for r in rows]}, indent=2)
    )
    report.chart(rows, args.out / "latest.png")
    if not args.no_publish:
        PUBLISHED.write_text(text)
        print(f"wrote {args.out / 'latest.md'} and {PUBLISHED}", file=sys.stderr)
    return 0
