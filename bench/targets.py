"""The rows the bench measures: each a Target (what h2load or pgbench drives, and what the
row is compared with), built at the small scale, again at the large one, and the ceilings.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from blog.articles.v1 import articles_pb2
from google.protobuf.message import Message

from bench import seed

if TYPE_CHECKING:
    from bench.environment import Environment

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
    service_pid: int | None = None  # a service serving this row alone (its CPU, side by side)


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
