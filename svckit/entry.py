"""What `python -m <service>` does once its settings are valid: JSON logs, the metrics
exporter (before any worker exists, so every worker reports into one multi-process set),
and the supervisor of `settings.workers` workers, each running `serve(index)`."""

from __future__ import annotations

from svckit import exporter, logs
from svckit.settings import ServiceSettings
from svckit.workers import Serve, run_workers


def run_service(service: str, settings: ServiceSettings, serve: Serve) -> int:
    """Run the workers until the service stops; its exit code."""
    logs.configure(service, settings.log_level)
    workers = settings.workers
    metrics = exporter.start(service, settings.metrics_host, settings.metrics_port, workers)
    try:
        # Nothing gRPC exists yet: each forked worker builds its own server in serve().
        return run_workers(workers, serve, settings.restart_policy(), metrics.worker_exited)
    finally:
        metrics.close()
