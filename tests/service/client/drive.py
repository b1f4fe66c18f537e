"""Run by a fresh virtual environment's python, where only the blog-client wheel is
installed: drives both services through it and prints what it saw as JSON for the test."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable
from typing import Any

import blog
import blog_client
from blog.articles.v1 import articles_pb2, articles_pb2_grpc
from blog.auth.v1 import auth_pb2, auth_pb2_grpc

PASSWORD = "correct horse battery"


async def failure(call: Awaitable[object]) -> dict[str, Any]:
    """What a call that must fail raised, as data."""
    try:
        await call
    except blog_client.BlogError as error:
        violations = getattr(error, "violations", ())
        return {
            "error": type(error).__name__,
            "code": error.code.name,
            "message": error.message,
            "violations": [list(item) for item in violations],
            "cause": type(error.__cause__).__name__,
        }
    return {"error": None}


async def drive(auth_address: str, articles_address: str, name: str) -> dict[str, Any]:
    async with (
        blog_client.connect(auth_address) as auth_channel,
        blog_client.connect(articles_address) as articles_channel,
    ):
        auth = auth_pb2_grpc.AuthServiceStub(auth_channel)
        articles = articles_pb2_grpc.ArticleServiceStub(articles_channel)
        email = f"{name}@example.com"
        register = auth_pb2.RegisterRequest(email=email, username=name, password=PASSWORD)
        await auth.Register(register)
        login = await auth.Login(auth_pb2.LoginRequest(username=name, password=PASSWORD))
        token = blog_client.bearer(login.access_token)
        me = await auth.GetCurrentUser(auth_pb2.GetCurrentUserRequest(), metadata=token)
        draft = articles_pb2.CreateArticleRequest(
            title="From the wheel", content="Written through the installed client.", published=True
        )
        made = await articles.CreateArticle(draft, metadata=token)
        read = await articles.GetArticle(articles_pb2.GetArticleRequest(id=made.id))
        short = articles_pb2.CreateArticleRequest(title="Short", content="tiny")
        return {
            "modules": [blog.__file__, blog_client.__file__],
            "me": [me.id, me.username],
            "read": [read.id, read.title, read.author_id],
            "invalid": await failure(articles.CreateArticle(short, metadata=token)),
            "missing": await failure(
                articles.GetArticle(articles_pb2.GetArticleRequest(id=made.id + 1_000_000))
            ),
            "anonymous": await failure(articles.CreateArticle(draft)),
            "taken": await failure(auth.Register(register)),
        }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(drive(*sys.argv[1:4]))))
