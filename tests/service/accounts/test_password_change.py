"""A password change: the article service refuses the user's earlier tokens within seconds,
learnt from the account feed (no call to auth per request), across restarts and replays."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import grpc
from blog.articles.v1 import articles_pb2 as pb
from blog.articles.v1 import articles_pb2_grpc
from blog.auth.v1 import auth_pb2
from sqlalchemy.ext.asyncio import async_sessionmaker

from article_service import operations
from article_service import server as article_server
from article_service.db.uow import SqlUnitOfWork
from article_service.models import UserEvent, UserEventKind

from .conftest import PASSWORD, Account, caught_up, eventually, register, scalar

CONTENT = "Some content, long enough."


async def _create(stub: Any, account: Account) -> grpc.StatusCode:
    request = pb.CreateArticleRequest(title="Mine", content=CONTENT)
    try:
        await stub.CreateArticle(request, metadata=account.metadata)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def _change(auth_stub: Any, account: Account) -> Account:
    request = auth_pb2.ChangePasswordRequest(current_password=PASSWORD, new_password="new pw 123")
    changed = await auth_stub.ChangePassword(request, metadata=account.metadata)
    return Account(account.id, changed.token.access_token)


async def test_earlier_tokens_are_refused_within_seconds_and_the_new_one_works(
    settings, auth_stub, auth_db
):
    frank = await register(auth_stub, "accounts_frank")
    async with (
        article_server.running(settings) as service,
        grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel,
    ):
        stub = articles_pb2_grpc.ArticleServiceStub(channel)
        await caught_up(service.consumer, auth_db)
        assert await _create(stub, frank) is grpc.StatusCode.OK  # now in the verified cache
        fresh = await _change(auth_stub, frank)

        async def refused() -> bool:
            return await _create(stub, frank) is grpc.StatusCode.UNAUTHENTICATED

        latency = await eventually(refused, within=5.0)
        print(f"password change to refusal: {latency * 1000:.0f} ms")
        assert await _create(stub, fresh) is grpc.StatusCode.OK
        assert service.token_epochs.floor(frank.id) == 1

    async with (  # a new process loads the epoch from its table
        article_server.running(settings) as service,
        grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel,
    ):
        stub = articles_pb2_grpc.ArticleServiceStub(channel)
        assert await _create(stub, frank) is grpc.StatusCode.UNAUTHENTICATED
        assert await _create(stub, fresh) is grpc.StatusCode.OK


async def test_applying_epochs_again_or_out_of_order_never_lowers_them(articles_db):
    sessions = async_sessionmaker(articles_db, expire_on_commit=False)
    user_id, name, now = 1_800_000_001, "test.epochs", datetime.now(UTC)
    events = [
        UserEvent(1, UserEventKind.CREATED, user_id, "epochs", now),
        UserEvent(2, UserEventKind.TOKENS_REVOKED, user_id, "epochs", now, token_epoch=1),
        UserEvent(3, UserEventKind.TOKENS_REVOKED, user_id, "epochs", now, token_epoch=2),
    ]
    for event in events:
        assert await operations.apply_user_event(SqlUnitOfWork(sessions), name, event)
        assert not await operations.apply_user_event(SqlUnitOfWork(sessions), name, event)
    # The older event applied again (another consumer, or a cursor moved back): no lower.
    assert await operations.apply_user_event(SqlUnitOfWork(sessions), f"{name}2", events[1])
    query = "SELECT epoch FROM token_epochs WHERE user_id = :i"
    assert await scalar(articles_db, query, i=user_id) == 2
