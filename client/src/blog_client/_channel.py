"""The channel internal callers use: deadlines, retried reads, keepalive, mapped errors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import grpc

from ._interceptors import StreamErrors, UnaryErrors

AUTH_SERVICE = "blog.auth.v1.AuthService"
ARTICLE_SERVICE = "blog.articles.v1.ArticleService"

# Reads change nothing, so running one twice is harmless; writes are never retried here
# (CreateArticle is safe to repeat only with a request_id, which the caller chooses).
IDEMPOTENT_READS = {
    AUTH_SERVICE: ("GetCurrentUser", "BatchGetUsers", "ListPublicKeys"),
    ARTICLE_SERVICE: ("GetArticle", "ListArticles"),
}
# These deadlines are kept by the channel alone: unlike a call's own `timeout=`, gRPC does not
# send a service config's timeout to the server (seen with grpcio 1.85).
READ_TIMEOUT = "5s"
# Writes include Register and Login, whose bcrypt work waits its turn under load.
CALL_TIMEOUT = "10s"


def _names(methods: dict[str, tuple[str, ...]]) -> list[dict[str, str]]:
    return [{"service": service, "method": m} for service, names in methods.items() for m in names]


SERVICE_CONFIG: dict[str, Any] = {
    "methodConfig": [
        # A service's default: any call, including RPCs added after this was written.
        {
            "name": [{"service": AUTH_SERVICE}, {"service": ARTICLE_SERVICE}],
            "timeout": CALL_TIMEOUT,
        },
        {
            "name": _names(IDEMPOTENT_READS),
            "timeout": READ_TIMEOUT,
            # A restarting or draining server answers UNAVAILABLE before it does any work:
            # a read tried again a moment later usually succeeds, within the same deadline.
            "retryPolicy": {
                "maxAttempts": 4,
                "initialBackoff": "0.1s",
                "maxBackoff": "1s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        },
        # The user feed is a stream meant to stay open: a deadline would end it.
        {"name": [{"service": AUTH_SERVICE, "method": "WatchUserEvents"}]},
    ],
    # Retries stop while most calls fail (a service that is down), so they never multiply
    # the load on a service that is struggling.
    "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1},
}

CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.service_config", json.dumps(SERVICE_CONFIG)),
    ("grpc.enable_retries", 1),
    # Pings find a frozen or vanished peer under an open call within ~30 s, where TCP alone
    # could wait for minutes. Only while calls are open: by default a gRPC server answers
    # frequent pings on an idle connection with GOAWAY.
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.http2.max_pings_without_data", 0),
    # gRPC's reconnect backoff grows to 2 minutes by default; capped, a restarted service
    # is reached again within seconds.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]


def connect(
    address: str,
    *,
    credentials: grpc.ChannelCredentials | None = None,
    options: Sequence[tuple[str, Any]] = (),
) -> grpc.aio.Channel:
    """A channel to one service ("host:port"), plaintext unless `credentials` are given.

    `options` are added after ours, so one of the same name replaces ours. Unary calls and
    server streams raise blog_client.errors (the contracts have no client streams). Use it
    as `async with connect(...) as channel:` or close it when done.
    """
    every = list({**dict(CHANNEL_OPTIONS), **dict(options)}.items())
    interceptors = [UnaryErrors(), StreamErrors()]
    if credentials is None:
        return grpc.aio.insecure_channel(address, options=every, interceptors=interceptors)
    return grpc.aio.secure_channel(address, credentials, options=every, interceptors=interceptors)
