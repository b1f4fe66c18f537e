"""The /metrics server of a one-worker service: served in-process, off at port 0, and a port
that cannot be bound never stops the service."""

from __future__ import annotations

import socket

import httpx

from svckit import exporter


def test_one_worker_serves_its_own_metrics_and_port_zero_serves_none():
    assert exporter.start("test", "127.0.0.1", 0, workers=1).server is None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    served = exporter.start("test", "127.0.0.1", port, workers=1)
    try:
        reply = httpx.get(f"http://127.0.0.1:{served.port}/metrics", timeout=5)
        assert reply.status_code == 200
        assert "python_info" in reply.text  # the process's own registry
    finally:
        served.close()


def test_a_taken_port_is_logged_and_the_service_goes_on(caplog):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = exporter.start("test", "127.0.0.1", port, workers=1)
    assert result.server is None
    assert "metrics not served" in caplog.text
    result.close()


def test_no_writable_folder_for_worker_files_loses_only_the_metrics(monkeypatch):
    """A read-only root with neither /dev/shm nor a temporary folder: the service starts."""

    def no_tempdir() -> str:
        raise FileNotFoundError("No usable temporary directory found")

    monkeypatch.setattr("tempfile.gettempdir", no_tempdir)
    monkeypatch.setattr("os.access", lambda *_args: False)
    served = exporter.start("test", "127.0.0.1", 1, workers=2)
    assert served.server is None
    assert served.directory is None
