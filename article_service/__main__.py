"""Start the article service: `python -m article_service` (settings from ARTICLES_* env)."""

from __future__ import annotations

import functools
import sys

from article_service.config import Settings
from article_service.server import serve
from svckit import exporter, logs, workers


def main() -> int:
    settings = Settings()  # type: ignore[call-arg]  # database_url comes from the environment
    logs.configure("articles", settings.log_level)
    metrics = exporter.start(
        "articles", settings.metrics_host, settings.metrics_port, settings.workers
    )
    # Nothing gRPC exists yet: each forked worker builds its own server in serve().
    try:
        return workers.run_workers(
            settings.workers,
            functools.partial(serve, settings),
            settings.restart_policy(),
            metrics.worker_exited,
        )
    finally:
        metrics.close()


if __name__ == "__main__":
    sys.exit(main())
