"""Settings of the local stack launcher (env prefix BLOG_), and the secrets it keeps in .data/."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from devstack import bootstrap


class StackSettings(BaseSettings):
    """Where the embedded PostgreSQL lives; the services read their own AUTH_/ARTICLES_ settings."""

    model_config = SettingsConfigDict(env_prefix="BLOG_", extra="ignore")

    data_dir: Path = Path(".data")
    pg_port: int = Field(default=54329, ge=1, le=65535)
    startup_timeout_seconds: float = Field(default=60.0, gt=0)
    # Processes per service, each on a loopback address of its own (127.0.0.1, .2, ...);
    # `python -m devstack scale articles 3` changes it while the stack runs.
    auth_replicas: int = Field(
        default=1, ge=1, le=16, validation_alias=AliasChoices("AUTH_REPLICAS", "BLOG_AUTH_REPLICAS")
    )
    articles_replicas: int = Field(
        default=1,
        ge=1,
        le=16,
        validation_alias=AliasChoices("ARTICLES_REPLICAS", "BLOG_ARTICLES_REPLICAS"),
    )


def role_passwords(data_dir: Path) -> dict[str, str]:
    """The service roles' database passwords: generated on first run, kept in data_dir (0600)."""
    path = data_dir / "role-passwords.json"
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text())
        if all(item.role in stored for item in bootstrap.ROLES):
            return stored
    data_dir.mkdir(parents=True, exist_ok=True)
    passwords = {item.role: secrets.token_urlsafe(24) for item in bootstrap.ROLES}
    path.touch(mode=0o600)
    path.write_text(json.dumps(passwords))
    return passwords
