"""Settings of the article service (env prefix ARTICLES_), validated once at start-up."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _cpu_count() -> int:
    return os.cpu_count() or 1


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ARTICLES_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=50052, ge=0, le=65535)
    # Worker i also binds worker_base_port + i (for a proxy to balance over); 0 disables.
    worker_base_port: int = Field(default=50071, ge=0, le=65535)
    workers: int = Field(default_factory=_cpu_count, ge=1)
    database_url: SecretStr
    db_pool_size: int = Field(default=10, ge=1)
    # Waiting for a pooled connection, and one SQL statement, stop after these (below the
    # callers' deadlines), so a frozen database answers UNAVAILABLE instead of hanging.
    db_pool_timeout_seconds: float = Field(default=2.0, gt=0)
    db_statement_timeout_seconds: float = Field(default=5.0, gt=0)
    # Calls in progress per worker; more are refused at once with RESOURCE_EXHAUSTED.
    max_concurrent_rpcs: int = Field(default=256, ge=1)
    auth_address: str = "127.0.0.1:50051"
    auth_timeout_seconds: float = Field(default=2.0, gt=0)
    token_issuer: str = "blog-auth"  # noqa: S105 - an issuer name, not a secret
    token_audience: str = "blog"  # noqa: S105 - an audience name, not a secret
    # An unknown kid refreshes the auth service's keys at most this often.
    keys_refresh_seconds: float = Field(default=5.0, gt=0)
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    # The consumer of the auth service's account feed (one per database, by advisory lock).
    feed_consumer: bool = True
    feed_lock_retry_seconds: float = Field(default=3.0, gt=0)
    feed_backoff_max_seconds: float = Field(default=5.0, gt=0)
    feed_lag_log_seconds: float = Field(default=30.0, gt=0)
    # How often each worker re-reads deleted users, whose tokens it refuses.
    deleted_users_refresh_seconds: float = Field(default=1.0, gt=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

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
