"""Settings of the article service (env prefix ARTICLES_), validated once at start-up."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from svckit.settings import ServiceSettings


class Settings(ServiceSettings):
    """Everything the article service can be told, beyond what every service has."""

    model_config = SettingsConfigDict(env_prefix="ARTICLES_", extra="ignore")

    port: int = Field(default=50052, ge=0, le=65535)
    worker_base_port: int = Field(default=50071, ge=0, le=65535)
    metrics_port: int = Field(default=9462, ge=0, le=65535)
    auth_address: str = "127.0.0.1:50051"
    auth_timeout_seconds: float = Field(default=2.0, gt=0)
    token_issuer: str = "blog-auth"  # noqa: S105 - an issuer name, not a secret
    token_audience: str = "blog"  # noqa: S105 - an audience name, not a secret
    # An unknown kid refreshes the auth service's keys at most this often.
    keys_refresh_seconds: float = Field(default=5.0, gt=0)
    # The consumer of the auth service's account feed (one per database, by advisory lock).
    feed_consumer: bool = True
    feed_lock_retry_seconds: float = Field(default=3.0, gt=0)
    feed_backoff_max_seconds: float = Field(default=5.0, gt=0)
    feed_lag_log_seconds: float = Field(default=30.0, gt=0)
    # How often each worker re-reads deleted users, whose tokens it refuses.
    deleted_users_refresh_seconds: float = Field(default=1.0, gt=0)
