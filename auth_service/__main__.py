"""Start the auth service: `python -m auth_service` (settings from AUTH_* environment variables)."""

from __future__ import annotations

import sys

from pydantic import ValidationError

from auth_service import keys
from auth_service.config import Settings
from auth_service.server import serve
from svckit import exporter, logs
from svckit.workers import run_workers


def main() -> int:
    try:
        settings = Settings()  # type: ignore[call-arg]  # filled from AUTH_* variables
        # Fail before forking: a bad key folder should stop one process, not N workers.
        keys.load_keyring(settings.keys_dir, settings.active_kid)
    except (ValidationError, keys.KeyConfigError) as exc:
        print(f"auth_service: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    logs.configure("auth", settings.log_level)
    metrics = exporter.start("auth", settings.metrics_host, settings.metrics_port, settings.workers)
    try:
        return run_workers(
            settings.workers,
            lambda index: serve(settings, index),
            settings.restart_policy(),
            metrics.worker_exited,
        )
    finally:
        metrics.close()


if __name__ == "__main__":
    sys.exit(main())
