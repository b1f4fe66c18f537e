"""A draining article server answers CANCELLED only to calls it never ran.

Found by the healing fault run: a create that reached a worker as it began to drain came
back as HTTP 499 (gRPC CANCELLED) through the gateway. grpc.aio's `server.stop()` cancels
the calls its core accepted but had not handed to a handler yet. This test pins what makes
the gateway's retry of such a write safe (gateway.routes.WRITE_RETRIES): none of those
calls wrote anything.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import grpc
from blog.articles.v1 import articles_pb2, articles_pb2_grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from article_service import server as article_server

from .conftest import User, article_settings

CALLERS = 40


async def _writer(stub: Any, alice: User, outcomes: dict[str, str]) -> None:
    while True:
        request_id = str(uuid.uuid4())
        request = articles_pb2.CreateArticleRequest(
            title="drain", content="Sent while the server drains.", request_id=request_id
        )
        try:
            await stub.CreateArticle(request, metadata=alice.metadata, timeout=5)
            outcomes[request_id] = "OK"
        except grpc.aio.AioRpcError as error:
            outcomes[request_id] = error.code().name
            if error.code() is grpc.StatusCode.UNAVAILABLE:
                return  # the server is gone: nothing more reaches it


async def test_calls_cancelled_by_a_drain_never_ran(database, auth, alice) -> None:
    settings = article_settings(database.urls["articles"], auth.address, feed_consumer=False)
    outcomes: dict[str, str] = {}
    async with (
        article_server.running(settings) as service,
        grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel,
    ):
        stub = articles_pb2_grpc.ArticleServiceStub(channel)
        writers = [asyncio.create_task(_writer(stub, alice, outcomes)) for _ in range(CALLERS)]
        await asyncio.sleep(0.5)
        await service.server.stop(2.0)
        await asyncio.gather(*writers)
    codes = Counter(outcomes.values())
    # Measured: about 35 of 40 callers had a call cancelled by the drain (never 0 in 6 runs).
    assert codes["OK"] > 0, codes
    assert codes["CANCELLED"] > 0, codes
    assert set(codes) <= {"OK", "CANCELLED", "UNAVAILABLE"}, codes
    engine = create_async_engine(database.urls["articles"])
    try:
        async with engine.connect() as connection:
            stored = set(
                await connection.scalars(
                    text("SELECT CAST(request_id AS text) FROM articles WHERE title = 'drain'")
                )
            )
    finally:
        await engine.dispose()
    acknowledged = {key for key, code in outcomes.items() if code == "OK"}
    refused = {key for key, code in outcomes.items() if code != "OK"}
    assert acknowledged <= stored  # nothing acknowledged is lost
    assert not refused & stored, codes  # nothing cancelled or refused was written
