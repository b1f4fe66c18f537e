"""Settings every gRPC service has: where it listens, its workers, its database, its limits.

Each service subclasses this with its own env prefix, its own default ports and the
settings of its domain; all are validated once at start-up and passed down.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

from svckit.workers import RestartPolicy


def _cpu_count() -> int:
    return os.cpu_count() or 1


class ServiceSettings(BaseSettings):
    """The database URL is a secret: SecretStr keeps it out of reprs and logs."""

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    # Worker i also binds worker_base_port + i, so a proxy can address each worker; 0 disables.
    worker_base_port: int = Field(default=0, ge=0, le=65535)
    workers: int = Field(default_factory=_cpu_count, ge=1)
    database_url: SecretStr
    db_pool_size: int = Field(default=10, ge=1)
    # Waiting for a pooled connection, and one SQL statement, stop after these (below the
    # callers' deadlines), so a frozen database answers UNAVAILABLE instead of hanging.
    db_pool_timeout_seconds: float = Field(default=2.0, gt=0)
    db_statement_timeout_seconds: float = Field(default=5.0, gt=0)
    # Calls in progress per worker; more are refused at once with RESOURCE_EXHAUSTED.
    max_concurrent_rpcs: int = Field(default=256, ge=1)
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    # A worker that dies is forked again after a pause that doubles up to the max; this many
    # exits of one worker within the window is a crash loop, and the service exits non-zero.
    worker_restart_backoff_max_seconds: float = Field(default=10.0, gt=0)
    worker_restart_limit: int = Field(default=5, ge=1)
    worker_restart_window_seconds: float = Field(default=60.0, gt=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # Prometheus /metrics over plain HTTP (served by the supervisor for all workers); 0 = off.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=0, ge=0, le=65535)

    def restart_policy(self) -> RestartPolicy:
        """How the worker supervisor restarts; stopping waits out the drain, then a margin."""
        return RestartPolicy(
            backoff_max_seconds=self.worker_restart_backoff_max_seconds,
            limit=self.worker_restart_limit,
            window_seconds=self.worker_restart_window_seconds,
            stop_timeout_seconds=self.shutdown_grace_seconds + 5.0,
        )

    @field_validator("database_url")
    @classmethod
    def _asyncpg_url(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        for plain in ("postgresql://", "postgres://"):
            if url.startswith(plain):
                return SecretStr("postgresql+asyncpg://" + url[len(plain) :])
        if not url.startswith("postgresql+asyncpg://"):
            raise ValueError("must be a postgresql:// or postgresql+asyncpg:// URL")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value
