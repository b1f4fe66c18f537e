"""Settings are validated at start-up."""

from __future__ import annotations

import pydantic
import pytest
from pydantic import SecretStr

from article_service.config import Settings


def test_a_plain_postgresql_url_is_turned_into_an_asyncpg_one():
    settings = Settings(database_url=SecretStr("postgresql://u:p@localhost/blog"))
    assert settings.database_url.get_secret_value().startswith("postgresql+asyncpg://")
    assert "p@" not in repr(settings)


def test_defaults_match_the_stack(monkeypatch):
    monkeypatch.setenv("ARTICLES_DATABASE_URL", "postgresql+asyncpg://u:p@h/blog")
    settings = Settings()  # type: ignore[call-arg]  # database_url from the environment
    assert (settings.host, settings.port, settings.worker_base_port) == ("127.0.0.1", 50052, 50071)
    assert settings.auth_address == "127.0.0.1:50051"
    assert settings.workers >= 1


@pytest.mark.parametrize(
    "bad", [{"database_url": "mysql://x"}, {"port": -1}, {"db_pool_size": 0}, {"log_level": "x"}]
)
def test_invalid_settings_are_refused(bad):
    values = {"database_url": "postgresql://u:p@h/blog", **bad}
    with pytest.raises(pydantic.ValidationError):
        Settings(**values)
