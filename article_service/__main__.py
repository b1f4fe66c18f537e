"""Start the article service: `python -m article_service` (settings from ARTICLES_* env)."""

from __future__ import annotations

import functools
import sys

from article_service.config import Settings
from article_service.server import serve
from svckit import logs, workers


def main() -> int:
    settings = Settings()  # type: ignore[call-arg]  # database_url comes from the environment
    logs.configure("articles", settings.log_level)
    # Nothing gRPC exists yet: each forked worker builds its own server in serve().
    return workers.run_workers(
        settings.workers, functools.partial(serve, settings), settings.restart_policy()
    )


if __name__ == "__main__":
    sys.exit(main())
