"""Settings of the auth service (env prefix AUTH_), validated once at start-up and passed down."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _cpu_count() -> int:
    return os.cpu_count() or 1


class Settings(BaseSettings):
    """Everything the auth service can be told; the database URL is a secret and never logged."""

    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=50051, ge=0, le=65535)
    # Worker i also binds worker_base_port + i, so a proxy can address each worker; 0 disables.
    worker_base_port: int = Field(default=50061, ge=0, le=65535)
    workers: int = Field(default_factory=_cpu_count, ge=1)
    database_url: SecretStr
    db_pool_size: int = Field(default=10, ge=1)
    # Waiting for a pooled connection, and one SQL statement, stop after these (below the
    # callers' deadlines), so a frozen database answers UNAVAILABLE instead of hanging.
    db_pool_timeout_seconds: float = Field(default=2.0, gt=0)
    db_statement_timeout_seconds: float = Field(default=5.0, gt=0)
    # Calls in progress per worker; more are refused at once with RESOURCE_EXHAUSTED.
    max_concurrent_rpcs: int = Field(default=256, ge=1)
    keys_dir: Path = Path(".data/keys")
    # Which key in keys_dir signs; None means "the only key there" (several keys is an error).
    active_kid: str | None = None
    token_issuer: str = "blog-auth"  # noqa: S105 - an issuer name, not a secret
    token_audience: str = "blog"  # noqa: S105 - an audience name, not a secret
    token_ttl_minutes: int = Field(default=30, ge=1, le=24 * 60)
    bcrypt_rounds: int = Field(default=12, ge=12, le=20)
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    log_level: str = Field(default="INFO", pattern="(?i)^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")
    # Per-account login throttle: this many failures within the window lock the account name.
    login_max_failures: int = Field(default=5, ge=1)
    login_failure_window_seconds: int = Field(default=15 * 60, ge=1)
    # How often an open WatchUserEvents stream looks for new events in the outbox.
    events_poll_seconds: float = Field(default=0.2, gt=0)
