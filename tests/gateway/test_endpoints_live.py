"""A real Envoy follows its endpoint files: hosts come and go without a restart."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest

from devstack.ports import free_port_block
from gateway import launch
from gateway.config import GatewaySettings
from gateway.upstreams import write_endpoints

pytestmark = pytest.mark.integration  # a real Envoy, on its own


def _hosts(settings: GatewaySettings, cluster: str) -> set[str]:
    url = f"http://{settings.admin_host}:{settings.admin_port}/clusters"
    with urllib.request.urlopen(url, timeout=2) as reply:
        lines = reply.read().decode().splitlines()
    return {
        line.split("::")[1]
        for line in lines
        if line.startswith(f"{cluster}::") and "::cx_total::" in line
    }


def _eventually(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.1)
    raise AssertionError("Envoy did not follow the endpoint file")


def test_envoy_picks_up_rewritten_endpoint_files_without_restarting(tmp_path: Path) -> None:
    base = free_port_block(2)
    settings = GatewaySettings(
        port=base,
        admin_port=base + 1,
        auth_endpoints=["127.0.0.1:1"],  # nothing listens: only the host lists matter
        articles_endpoints=["127.0.0.1:2"],
        endpoints_dir=tmp_path / "endpoints",
    )
    envoy = launch.start(settings, tmp_path / "gateway")
    try:
        assert _hosts(settings, "articles") == {"127.0.0.1:2"}
        grown = ["127.0.0.2:2", "127.0.0.3:2", "127.0.0.4:2"]
        write_endpoints(settings.endpoints_dir or tmp_path, "articles", grown)
        _eventually(lambda: _hosts(settings, "articles") == set(grown))
        write_endpoints(settings.endpoints_dir or tmp_path, "articles", grown[1:])
        _eventually(lambda: _hosts(settings, "articles") == set(grown[1:]))
        assert _hosts(settings, "auth") == {"127.0.0.1:1"}  # the other cluster is untouched
        assert envoy.poll() is None
    finally:
        envoy.terminate()
        envoy.wait(timeout=10)
