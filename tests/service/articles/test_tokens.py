"""Bad tokens are refused with one message; an unreachable auth service is UNAVAILABLE."""

from __future__ import annotations

import time
import uuid
from typing import Any

import grpc
import jwt
import pytest
from blog.articles.v1 import articles_pb2 as pb
from blog.articles.v1 import articles_pb2_grpc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from article_service import server as article_server
from devstack.ports import free_port

from .conftest import article_settings
from .helpers import rpc_error

_NO_KEY: Any = None  # "none" signs with no key; the stubs do not allow for it
CREATE = pb.CreateArticleRequest(title="Title", content="Long enough content")


def _sign(key: Any, kid: str, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "sub": "1",
        "iat": now,
        "exp": now + 600,
        "iss": "blog-auth",
        "aud": "blog",
        "jti": uuid.uuid4().hex,
        **overrides,
    }
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid, "typ": "at+jwt"})


@pytest.fixture(scope="module")
def real_key(auth):
    pem = (auth.keys_dir / f"{auth.kid}.pem").read_bytes()
    return serialization.load_pem_private_key(pem, password=None)


def _bad_tokens(auth, real_key, alice) -> dict[str, str]:
    header, payload, signature = alice.token.split(".")
    now = int(time.time())
    return {
        "garbage": "Bearer garbage",
        "empty bearer": "Bearer ",
        "basic scheme": "Basic dXNlcjpwYXNz",
        "tampered signature": f"Bearer {header}.{payload}.{signature[::-1]}",
        "expired": "Bearer " + _sign(real_key, auth.kid, iat=now - 3600, exp=now - 1800),
        "wrong issuer": "Bearer " + _sign(real_key, auth.kid, iss="evil"),
        "wrong audience": "Bearer " + _sign(real_key, auth.kid, aud="other"),
        "unknown kid": "Bearer " + _sign(Ed25519PrivateKey.generate(), "unknown-kid"),
        "foreign key, known kid": "Bearer " + _sign(Ed25519PrivateKey.generate(), auth.kid),
        "alg none": "Bearer "
        + jwt.encode({"sub": "1"}, _NO_KEY, algorithm="none", headers={"kid": auth.kid}),
    }


async def test_every_bad_token_is_unauthenticated_with_one_message(stub, auth, real_key, alice):
    for name, value in _bad_tokens(auth, real_key, alice).items():
        metadata = (("authorization", value),)
        error = await rpc_error(stub.CreateArticle(CREATE, metadata=metadata))
        assert error.code() is grpc.StatusCode.UNAUTHENTICATED, name
        assert error.details() == "Could not validate credentials", name


async def test_a_bad_token_on_a_read_is_refused_not_ignored(stub):
    metadata = (("authorization", "Bearer garbage"),)
    error = await rpc_error(stub.ListArticles(pb.ListArticlesRequest(), metadata=metadata))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_a_token_signed_with_the_auth_services_key_is_accepted(stub, auth, real_key, alice):
    token = _sign(real_key, auth.kid, sub=str(alice.id))
    article = await stub.CreateArticle(CREATE, metadata=(("authorization", f"Bearer {token}"),))
    assert article.author_id == alice.id


async def test_an_unreachable_auth_service_makes_writes_unavailable(database, alice):
    settings = article_settings(
        database.urls["articles"], f"127.0.0.1:{free_port()}", auth_timeout_seconds=0.5
    )
    async with (
        article_server.running(settings) as started,
        grpc.aio.insecure_channel(f"127.0.0.1:{started.port}") as channel,
    ):
        stub = articles_pb2_grpc.ArticleServiceStub(channel)
        error = await rpc_error(stub.CreateArticle(CREATE, metadata=alice.metadata))
        assert error.code() is grpc.StatusCode.UNAVAILABLE
        listed = await stub.ListArticles(pb.ListArticlesRequest(limit=1))  # reads need no keys
        assert len(listed.articles) <= 1
