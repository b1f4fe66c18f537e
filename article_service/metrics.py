"""The article service's own metrics: the account feed's lag, the batched reads' batch
sizes and the auth service's keys. Built on first use, in the worker (see svckit.metrics)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from prometheus_client import Counter, Gauge, Histogram

from article_service.auth_client import KeySource
from article_service.errors import AuthUnavailableError
from article_service.user_feed import UserFeedConsumer
from svckit.metrics import Sampler, counter_from_zero

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


@dataclass(frozen=True)
class ArticleMetrics:
    feed_active: Gauge
    feed_events_behind: Gauge
    feed_seconds_behind: Gauge
    batch_size: Histogram
    keys_known: Gauge
    key_refreshes: Counter


@functools.cache
def article_metrics() -> ArticleMetrics:
    refreshes = counter_from_zero(
        "blog_articles_auth_key_refreshes",
        "Fetches of the auth service's public keys (on an unknown kid), by outcome.",
        "outcome",
        ("ok", "failed"),
    )
    return ArticleMetrics(
        Gauge(
            "blog_articles_feed_consumer_active",
            "1 where a worker holds the feed lock and is connected to the account feed.",
            multiprocess_mode="livesum",
        ),
        Gauge(
            "blog_articles_feed_events_behind",
            "Account events the feed has reported and the consumer has not applied yet.",
            multiprocess_mode="livemax",
        ),
        Gauge(
            "blog_articles_feed_seconds_behind",
            "Age of the last applied account event while events are pending; 0 caught up.",
            multiprocess_mode="livemax",
        ),
        Histogram(
            "blog_articles_read_batch_size",
            "Calls answered by one batched read statement (read: get, list).",
            ["read"],
            buckets=BATCH_BUCKETS,
        ),
        Gauge(
            "blog_articles_auth_keys_known",
            "Public keys of the auth service this worker verifies tokens with.",
            multiprocess_mode="livemax",
        ),
        refreshes,
    )


def watch_feed(consumer: UserFeedConsumer, sampler: Sampler) -> None:
    metrics = article_metrics()

    def probe() -> None:
        lag = consumer.lag()
        metrics.feed_active.set(1 if lag.active else 0)
        metrics.feed_events_behind.set(lag.events_behind)
        metrics.feed_seconds_behind.set(lag.seconds_behind)

    sampler.add(probe)


def batch_observer() -> Callable[[str, int], None]:
    """BatchedReads' on_batch: one batch of `read` ("get" or "list") answering `calls`."""
    sizes = article_metrics().batch_size
    by_read = {read: sizes.labels(read) for read in ("get", "list")}

    def observe(read: str, calls: int) -> None:
        by_read[read].observe(calls)

    return observe


def counting_keys(source: KeySource) -> KeySource:
    """`source`, counting each refresh and how many keys it brought."""
    metrics = article_metrics()
    ok, failed = metrics.key_refreshes.labels("ok"), metrics.key_refreshes.labels("failed")

    async def fetch() -> Mapping[str, Ed25519PublicKey]:
        try:
            keys = await source()
        except AuthUnavailableError:
            failed.inc()
            raise
        ok.inc()
        metrics.keys_known.set(len(keys))
        return keys

    return fetch
