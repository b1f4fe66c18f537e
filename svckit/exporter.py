"""Serve a service's Prometheus metrics at /metrics over plain HTTP, one coherent set for
all its workers.

With one worker the metrics live in the process and it serves them itself. With several,
the supervisor switches prometheus-client to its multi-process mode before forking: each
worker writes its values into files of its own in a fresh folder (one per service start,
in /dev/shm where there is one: memory, and writable in a read-only container), and the
supervisor serves their sum, so a scrape works while a worker is down or restarting. A
dead worker's counters stay in the sum, so no total goes backwards when it dies;
`worker_exited` drops its live gauges (pool in use, queue depth, lag).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, multiprocess, start_http_server, values

from svckit import db_metrics, metrics
from svckit.processes import alive

log = logging.getLogger("svckit.exporter")

_PREFIX = "blog-metrics-"


@dataclass
class Exporter:
    """The /metrics server of one service process, and its workers' folder if it has one."""

    server: WSGIServer | None = None
    directory: Path | None = None

    @property
    def port(self) -> int:
        return int(self.server.server_address[1]) if self.server is not None else 0

    def worker_exited(self, pid: int) -> None:
        """A worker died while serving (the supervisor restarts it): drop its live gauges."""
        if self.directory is not None:
            multiprocess.mark_process_dead(pid, str(self.directory))  # type: ignore[no-untyped-call]
            worker_exits().inc()

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)


def start(service: str, host: str, port: int, workers: int) -> Exporter:
    """Start serving; port 0 is off. A port that cannot be bound is logged, not fatal:
    metrics must never keep a service from answering."""
    if port == 0:
        return Exporter()
    directory = None
    registry: CollectorRegistry | None = None
    if workers > 1:
        directory = _fresh_directory(service)
        if directory is None:
            return Exporter()
        _use_multiprocess(directory)
        worker_exits()  # exported from zero, so increase() sees the first exit
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    try:
        if registry is None:
            server, _ = start_http_server(port, host)
        else:
            server, _ = start_http_server(port, host, registry=registry)
    except OSError as exc:
        log.error("metrics not served", extra={"address": f"{host}:{port}", "error": str(exc)})
        return Exporter(None, directory)
    if directory is not None:
        # Workers must not keep the listening socket open (a restarted service could not
        # bind it while an old worker drains).
        os.register_at_fork(after_in_child=server.socket.close)
    log.info("metrics served", extra={"address": f"http://{host}:{port}/metrics"})
    return Exporter(server, directory)


@functools.cache
def worker_exits() -> Counter:
    """Counted by the supervisor itself (its own file in the folder), not by a worker."""
    return Counter("blog_worker_exits", "Workers that died while serving and were restarted.")


def _use_multiprocess(directory: Path) -> None:
    """prometheus-client reads PROMETHEUS_MULTIPROC_DIR at import; switch it explicitly, before
    any instrument exists (svckit.metrics builds them on first use, in the workers)."""
    if (
        metrics.grpc_metrics.cache_info().currsize
        or db_metrics.database_metrics.cache_info().currsize
    ):
        raise RuntimeError("metrics were created before multi-process mode was chosen")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


def _fresh_directory(service: str) -> Path | None:
    """A new folder for this start; folders left by a service process that is gone (killed
    before it could clean up) are removed first."""
    candidates = [Path("/dev/shm")]  # noqa: S108 - a fresh private mkdtemp folder inside it
    with contextlib.suppress(FileNotFoundError):  # a read-only root with no writable /tmp
        candidates.append(Path(tempfile.gettempdir()))
    for parent in candidates:
        if not (parent.is_dir() and os.access(parent, os.W_OK | os.X_OK)):
            continue
        _remove_orphans(parent)
        with contextlib.suppress(OSError):
            return Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{service}-{os.getpid()}-", dir=parent))
    log.error("metrics not served: no writable folder for the workers' metrics files")
    return None


def _remove_orphans(parent: Path) -> None:
    for folder in parent.glob(f"{_PREFIX}*-*-*"):
        pid = folder.name.split("-")[-2]
        with contextlib.suppress(OSError):
            mine = folder.stat().st_uid == os.getuid()
            if mine and pid.isdigit() and not alive(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)
