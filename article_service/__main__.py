"""Start the article service: `python -m article_service` (settings from ARTICLES_* env)."""

from __future__ import annotations

import functools
import sys

from article_service.config import Settings
from article_service.server import serve
from svckit.entry import run_service


def main() -> int:
    settings = Settings()  # type: ignore[call-arg]  # database_url comes from the environment
    return run_service("articles", settings, functools.partial(serve, settings))


if __name__ == "__main__":
    sys.exit(main())
