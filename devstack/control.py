"""How `python -m devstack scale` talks to a running launcher: a file of wanted replica
counts next to the launcher's pid, and SIGHUP to have it read them."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from devstack.services import SERVICES
from devstack.settings import StackSettings

SERVICE_NAMES = tuple(spec.name for spec in SERVICES)


def control_dir(settings: StackSettings) -> Path:
    """Where a running launcher keeps its pid and the wanted replica counts."""
    return settings.data_dir.resolve() / "stack"


def wanted_counts(settings: StackSettings) -> dict[str, int]:
    path = control_dir(settings) / "replicas.json"
    try:
        wanted: dict[str, int] = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return {name: int(count) for name, count in wanted.items() if int(count) >= 1}


def request_scale(settings: StackSettings, service: str, count: int) -> None:
    """`python -m devstack scale SERVICE N`: tell the running launcher (SIGHUP)."""
    if service not in SERVICE_NAMES or count < 1:
        raise ValueError("usage: python -m devstack scale auth|articles COUNT (>= 1)")
    folder = control_dir(settings)
    pid = int((folder / "launcher.pid").read_text())
    wanted = {**wanted_counts(settings), service: count}
    (folder / "replicas.json").write_text(json.dumps(wanted))
    os.kill(pid, signal.SIGHUP)
