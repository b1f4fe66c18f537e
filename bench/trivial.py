"""A trivial grpc.aio server: the ceiling of a Python gRPC worker doing no work.

It answers every unary method with a canned reply (the bytes of a typical Article for
GetArticle, a page of them for ListArticles), and SERVING to grpc.health.v1 checks, so it
can stand in for the article service both for direct calls and behind the same Envoy
configuration. Same worker model as the services (svckit.workers: a shared SO_REUSEPORT
port plus one port per worker).

    python -m bench.trivial --port P --worker-base-port B --workers N
"""

from __future__ import annotations

import argparse

import grpc
from blog.articles.v1 import articles_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2

from svckit.workers import run_workers

CONTENT = "Benchmark article body. " * 20


def sample_article(article_id: int = 1) -> articles_pb2.Article:
    now = Timestamp(seconds=1_760_000_000)
    return articles_pb2.Article(
        id=article_id,
        title=f"Article {article_id}",
        content=CONTENT,
        published=True,
        author_id=1,
        created_at=now,
        updated_at=now,
        author_username="bench_user0",
    )


def canned_replies() -> dict[str, bytes]:
    article = sample_article()
    page = articles_pb2.ListArticlesResponse(articles=[sample_article(i) for i in range(1, 21)])
    prefix = "/blog.articles.v1.ArticleService/"
    serving = health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)
    return {
        prefix + "GetArticle": article.SerializeToString(),
        prefix + "CreateArticle": article.SerializeToString(),
        prefix + "UpdateArticle": article.SerializeToString(),
        prefix + "ListArticles": page.SerializeToString(),
        "/grpc.health.v1.Health/Check": serving.SerializeToString(),
    }


class Canned(grpc.GenericRpcHandler):
    """Every unary method answers its canned bytes (empty for unknown methods)."""

    def __init__(self) -> None:
        self._replies = canned_replies()

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[bytes, bytes] | None:
        reply = self._replies.get(handler_call_details.method, b"")

        async def answer(
            _request: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]
        ) -> bytes:
            return reply

        return grpc.unary_unary_rpc_method_handler(answer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--worker-base-port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    async def serve(index: int) -> None:
        server = grpc.aio.server(
            options=[("grpc.so_reuseport", 1 if args.workers > 1 else 0)],
        )
        server.add_generic_rpc_handlers((Canned(),))
        server.add_insecure_port(f"{args.host}:{args.port}")
        server.add_insecure_port(f"{args.host}:{args.worker_base_port + index}")
        await server.start()
        await server.wait_for_termination()

    return run_workers(args.workers, serve)


if __name__ == "__main__":
    raise SystemExit(main())
