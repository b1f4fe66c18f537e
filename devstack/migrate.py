"""Apply a service's Alembic history to its schema, as the service's own role."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("auth", "articles")


def config(service: str, url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"), ini_section=service)
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(service: str, url: str, revision: str = "head") -> None:
    command.upgrade(config(service, url), revision)


def downgrade(service: str, url: str, revision: str = "base") -> None:
    command.downgrade(config(service, url), revision)
