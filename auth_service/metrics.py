"""The auth service's own metrics: password hashing (in progress, queued, shed) and login
throttles. Built on first use, in the worker (see svckit.metrics)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from prometheus_client import Counter, Gauge

from auth_service.errors import PasswordWorkBusyError, TooManyAttemptsError
from auth_service.passwords import PasswordHasher
from svckit.metrics import Sampler


@dataclass(frozen=True)
class AuthMetrics:
    bcrypt_in_progress: Gauge
    bcrypt_queue_depth: Gauge
    bcrypt_shed: Counter
    login_throttled: Counter


@functools.cache
def auth_metrics() -> AuthMetrics:
    return AuthMetrics(
        Gauge(
            "blog_auth_bcrypt_in_progress",
            "Password hashes and checks running or queued.",
            multiprocess_mode="livesum",
        ),
        Gauge(
            "blog_auth_bcrypt_queue_depth",
            "Password hashes and checks waiting for a bcrypt thread.",
            multiprocess_mode="livesum",
        ),
        Counter(
            "blog_auth_bcrypt_shed",
            "Logins and registrations refused at once because the bcrypt queue was full.",
        ),
        Counter(
            "blog_auth_login_throttled",
            "Logins refused because the account name had too many recent failures.",
        ),
    )


def counted_errors() -> dict[type[Exception], Counter]:
    """The refusals svckit.metrics.counting_errors counts for this service."""
    metrics = auth_metrics()
    return {
        PasswordWorkBusyError: metrics.bcrypt_shed,
        TooManyAttemptsError: metrics.login_throttled,
    }


def watch_hasher(hasher: PasswordHasher, sampler: Sampler) -> None:
    metrics = auth_metrics()

    def probe() -> None:
        metrics.bcrypt_in_progress.set(hasher.in_progress())
        metrics.bcrypt_queue_depth.set(hasher.waiting())

    sampler.add(probe)
