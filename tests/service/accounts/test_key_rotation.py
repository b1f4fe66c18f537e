"""The README's key rotation, live: the auth service restarts through each step while an
article service keeps running, and no valid token is refused on the way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from blog.articles.v1 import articles_pb2 as pb
from blog.articles.v1 import articles_pb2_grpc
from blog.auth.v1 import auth_pb2, auth_pb2_grpc

from article_service import server as article_server
from auth_service import keys as auth_keys
from auth_service import server as auth_server
from devstack.ports import free_port
from tests.conftest import in_process_auth_settings

from .conftest import PASSWORD, article_settings

NAME = "rotation_rita"


@asynccontextmanager
async def _auth(
    database: Any, keys_dir: Path, port: int, active_kid: str | None
) -> AsyncIterator[Any]:
    """The auth service on a fixed port (the article service keeps its address), and a stub."""
    settings = in_process_auth_settings(
        database.urls["auth"], keys_dir, port=port, active_kid=active_kid
    )
    async with (
        auth_server.running(settings),
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        await channel.channel_ready()
        yield auth_pb2_grpc.AuthServiceStub(channel)


async def _login(stub: Any) -> str:
    reply = await stub.Login(auth_pb2.LoginRequest(username=NAME, password=PASSWORD))
    return str(reply.access_token)


def _kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


async def _create(articles: Any, token: str) -> pb.Article:
    request = pb.CreateArticleRequest(title="Rotation", content="Signed by some key.")
    result: pb.Article = await articles.CreateArticle(
        request, metadata=(("authorization", f"Bearer {token}"),)
    )
    return result


async def test_rotating_the_signing_key_refuses_no_valid_token(
    database, auth_address, tmp_path: Path
) -> None:
    del auth_address  # requested for its migrations: this test runs auth servers of its own
    keys_dir = tmp_path / "keys"
    old_kid = auth_keys.ensure_key(keys_dir)
    port = free_port()
    async with _auth(database, keys_dir, port, None) as auth:
        await auth.Register(
            auth_pb2.RegisterRequest(email=f"{NAME}@example.com", username=NAME, password=PASSWORD)
        )
        old_token = await _login(auth)
    assert _kid(old_token) == old_kid

    settings = article_settings(database.urls["articles"], f"127.0.0.1:{port}")
    async with (
        article_server.running(settings) as service,
        grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel,
    ):
        articles = articles_pb2_grpc.ArticleServiceStub(channel)
        # Step 1: add a key; with the old one still active the new one is published only.
        new_kid = auth_keys.generate_key(keys_dir)
        async with _auth(database, keys_dir, port, old_kid) as auth:
            assert _kid(await _login(auth)) == old_kid
            published = await auth.ListPublicKeys(auth_pb2.ListPublicKeysRequest())
            assert {key.kid for key in published.keys} == {old_kid, new_kid}
            await _create(articles, old_token)

        # Step 2: the new key signs; the article service learns it from the first token.
        async with _auth(database, keys_dir, port, new_kid) as auth:
            new_token = await _login(auth)
            assert _kid(new_token) == new_kid
            await _create(articles, new_token)
            await _create(articles, old_token)  # old tokens stay valid until they expire
            me = auth_pb2.GetCurrentUserRequest()
            for token in (old_token, new_token):
                await auth.GetCurrentUser(me, metadata=(("authorization", f"Bearer {token}"),))

        # Step 3 (after the old tokens' expiry): the old key's file goes; its tokens are dead.
        (keys_dir / f"{old_kid}.pem").unlink()
        async with _auth(database, keys_dir, port, None) as auth:
            await auth.GetCurrentUser(me, metadata=(("authorization", f"Bearer {new_token}"),))
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await auth.GetCurrentUser(me, metadata=(("authorization", f"Bearer {old_token}"),))
            assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
            await _create(articles, new_token)
