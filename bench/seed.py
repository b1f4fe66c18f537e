"""The same data in both systems, each through its own public API: users, then N articles."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
import httpx
from blog.articles.v1 import articles_pb2, articles_pb2_grpc
from blog.auth.v1 import auth_pb2, auth_pb2_grpc

PASSWORD = "bench-password-1"  # noqa: S105 - a throw-away benchmark account
CONTENT = "Benchmark article body. " * 20
CONCURRENCY = 32


@dataclass
class Seeded:
    tokens: list[str]
    article_ids: list[int]


def user(index: int) -> tuple[str, str]:
    return f"bench_user{index}@example.com", f"bench_user{index}"


def article(index: int) -> tuple[str, str]:
    return f"Article {index}", CONTENT


async def _bounded(count: int, make: Callable[[int], Awaitable[int]]) -> list[int]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(index: int) -> int:
        async with gate:
            return await make(index)

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def seed_ours(auth_target: str, articles_target: str, users: int, articles: int) -> Seeded:
    async with (
        grpc.aio.insecure_channel(auth_target) as auth_channel,
        grpc.aio.insecure_channel(articles_target) as articles_channel,
    ):
        auth = auth_pb2_grpc.AuthServiceStub(auth_channel)
        stub = articles_pb2_grpc.ArticleServiceStub(articles_channel)
        tokens = []
        for index in range(users):
            email, name = user(index)
            await auth.Register(
                auth_pb2.RegisterRequest(email=email, username=name, password=PASSWORD)
            )
            reply = await auth.Login(auth_pb2.LoginRequest(username=name, password=PASSWORD))
            tokens.append(reply.access_token)

        async def create(index: int) -> int:
            title, content = article(index)
            metadata = (("authorization", f"Bearer {tokens[index % users]}"),)
            request = articles_pb2.CreateArticleRequest(
                title=title, content=content, published=True
            )
            created = await stub.CreateArticle(request, metadata=metadata)
            return int(created.id)

        return Seeded(tokens, await _bounded(articles, create))


async def seed_peer(base_url: str, users: int, articles: int) -> Seeded:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        tokens = []
        for index in range(users):
            email, name = user(index)
            reply = await http.post(
                "/auth/register", json={"email": email, "username": name, "password": PASSWORD}
            )
            reply.raise_for_status()
            login = await http.post("/auth/login", data={"username": name, "password": PASSWORD})
            login.raise_for_status()
            tokens.append(str(login.json()["access_token"]))

        async def create(index: int) -> int:
            title, content = article(index)
            reply = await http.post(
                "/articles/",
                json={"title": title, "content": content, "published": True},
                headers={"authorization": f"Bearer {tokens[index % users]}"},
            )
            reply.raise_for_status()
            return int(reply.json()["id"])

        return Seeded(tokens, await _bounded(articles, create))
