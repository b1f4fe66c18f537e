""".env.example is the newcomer's list of settings: it must name every one of them."""

from __future__ import annotations

from pathlib import Path

import pytest
from dotenv import dotenv_values
from pydantic_settings import BaseSettings

from article_service.config import Settings as ArticleSettings
from auth_service.config import Settings as AuthSettings
from devstack.settings import StackSettings
from gateway.config import GatewaySettings

EXAMPLE = Path(__file__).resolve().parents[3] / ".env.example"
INTERNAL = {"descriptors", "envoy_binary"}  # paths inside the checkout, not settings to tune


@pytest.mark.parametrize(
    "settings", [AuthSettings, ArticleSettings, GatewaySettings, StackSettings]
)
def test_env_example_lists_every_setting(settings: type[BaseSettings]) -> None:
    text = EXAMPLE.read_text()
    prefix = str(settings.model_config.get("env_prefix", ""))
    missing = [
        f"{prefix}{name}".upper()
        for name in settings.model_fields
        if name not in INTERNAL and f"{prefix}{name}".upper() not in text
    ]
    assert missing == []


@pytest.mark.parametrize(
    "settings", [AuthSettings, ArticleSettings, GatewaySettings, StackSettings]
)
def test_env_example_values_are_valid_settings(
    settings: type[BaseSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in dotenv_values(EXAMPLE).items():
        if value is not None:
            monkeypatch.setenv(key, value)
    for prefix in ("AUTH_", "ARTICLES_"):  # secrets are generated, never in the example
        monkeypatch.setenv(f"{prefix}DATABASE_URL", "postgresql+asyncpg://u:p@127.0.0.1/blog")
    settings()
