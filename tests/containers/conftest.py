"""The compose stack, really running under Podman, for the tests in this folder.

`make test-containers` builds the images and runs this folder by path; `make test` leaves
it out (pyproject's addopts). Without Podman or the image every test here fails: a
missing engine must never pass for a skipped check.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = ROOT / "docker" / "containers.conf"
# Host ports this machine sets aside for published container ports.
PORTS = range(41000, 42000)


@dataclass(frozen=True)
class Stack:
    project: str
    url: str  # the gateway, as published on the host
    image: str

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"


def podman(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}
    return subprocess.run(
        ["podman", *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def inspect(name: str) -> dict[str, Any]:
    found = podman("inspect", name)
    assert found.returncode == 0, found.stderr
    result: dict[str, Any] = json.loads(found.stdout)[0]
    return result


def free_port() -> int:
    for port in random.sample(PORTS, len(PORTS)):
        with socket.socket() as probe:
            try:
                probe.bind(("0.0.0.0", port))  # noqa: S104 - where podman will publish it
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS}")


def stack_script(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "docker/stack.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


# A failed test prints these services' last log lines in the run's summary: the stack is
# removed at the end, and CI keeps only what the run printed.
LOGGED = ("articles", "auth", "gateway")
LOG_LINES = 40
_failed: list[str] = []
_kept_logs: list[str] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        _failed.append(item.nodeid)
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for text in _kept_logs:
        terminalreporter.write_line(text)


def _logs(stack: Stack, service: str) -> str:
    """The last lines of `service`'s log, less its health checks (Envoy's, every second)."""
    shown = podman("logs", stack.container(service))
    lines = [
        line
        for line in (shown.stdout + shown.stderr).splitlines()
        if "/grpc.health.v1.Health/" not in line
    ]
    tail = "\n".join(lines[-LOG_LINES:])
    return f"--- last {LOG_LINES} log lines of {service}, health checks left out ---\n{tail}"


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: run docker/install-tools.sh", pytrace=False)
    image = os.environ.get("BLOG_IMAGE", "localhost/blog-platform:latest")
    if podman("image", "exists", image).returncode != 0:
        pytest.fail(f"no image {image}: run make image", pytrace=False)
    port = free_port()
    project = f"blogtest{os.getpid()}"
    env = {
        **os.environ,
        "BLOG_IMAGE": image,
        "POSTGRES_IMAGE": os.environ.get("POSTGRES_IMAGE", "localhost/blog-postgres:15"),
        "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
        "AUTH_DB_PASSWORD": secrets.token_urlsafe(16),
        "ARTICLES_DB_PASSWORD": secrets.token_urlsafe(16),
        "GATEWAY_HOST_PORT": str(port),
    }
    stack = Stack(project, f"http://127.0.0.1:{port}", image)
    try:
        started = stack_script("up", "--project", project, env=env)
        if started.returncode != 0:
            pytest.fail(f"the stack did not come up:\n{started.stdout}{started.stderr}")
        yield stack
    finally:
        if _failed:  # the containers' own account, before they are removed with the stack
            _kept_logs.extend(_logs(stack, service) for service in LOGGED)
        removed = stack_script("down", "--project", project, "--volumes", env=env)
        assert removed.returncode == 0, removed.stderr
