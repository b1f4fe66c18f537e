"""Settings of the auth service (env prefix AUTH_), validated once at start-up and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from svckit.settings import ServiceSettings


class Settings(ServiceSettings):
    """Everything the auth service can be told, beyond what every service has."""

    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore")

    port: int = Field(default=50051, ge=0, le=65535)
    worker_base_port: int = Field(default=50061, ge=0, le=65535)
    metrics_port: int = Field(default=9461, ge=0, le=65535)
    keys_dir: Path = Path(".data/keys")
    # Which key in keys_dir signs; None means "the only key there" (several keys is an error).
    active_kid: str | None = None
    token_issuer: str = "blog-auth"  # noqa: S105 - an issuer name, not a secret
    token_audience: str = "blog"  # noqa: S105 - an audience name, not a secret
    token_ttl_minutes: int = Field(default=30, ge=1, le=24 * 60)
    # Absolute lifetime of a session's refresh tokens, counted from the login (rotation
    # does not extend it): then the user logs in again.
    refresh_token_ttl_days: int = Field(default=30, ge=1, le=365)
    bcrypt_rounds: int = Field(default=12, ge=12, le=20)
    # Threads hashing passwords (0: one per core), and how many more checks may wait for one;
    # logins beyond that are shed at once with RESOURCE_EXHAUSTED.
    bcrypt_threads: int = Field(default=0, ge=0, le=64)
    bcrypt_max_waiting: int = Field(default=64, ge=0)
    # Per-account login throttle: this many failures within the window lock the account name.
    login_max_failures: int = Field(default=5, ge=1)
    login_failure_window_seconds: int = Field(default=15 * 60, ge=1)
    # How often an open WatchUserEvents stream looks for new events in the outbox.
    events_poll_seconds: float = Field(default=0.2, gt=0)
