"""CPU seconds each part of the system spends, read from /proc (Linux): the cost per request
of our services, Envoy, PostgreSQL and the peer, which noise from other work on the machine
moves far less than it moves throughput.

Parts are found from the processes the bench started (and everything they started), plus
the PostgreSQL server of its data folder and that server's backends.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
MIN_REQUESTS = 200
# A part's name from what its command line holds (first match wins).
PARTS = (
    ("article_service", "articles"),
    ("auth_service", "auth"),
    ("trivial-gateway", "envoy (trivial)"),
    ("envoy", "envoy"),
    ("bench.trivial", "trivial"),
    ("uvicorn", "peer"),
    ("postgres", "postgres"),
)


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a process, or None once it is gone."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def _cmdline(pid: int) -> str:
    try:
        return (
            (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def _part(command: str) -> str | None:
    return next((name for marker, name in PARTS if marker in command), None)


def snapshot(roots: list[int], postgres_marker: str) -> dict[int, tuple[str, float]]:
    """pid -> (part, CPU seconds so far) for the roots' process trees and the PostgreSQL
    server whose command line holds `postgres_marker` (its data folder) with its backends."""
    if not PROC.is_dir():
        return {}
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            found = _stat(int(entry.name))
            if found is not None:
                parents[int(entry.name)], cpu[int(entry.name)] = found
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    tops = list(roots)
    tops += [pid for pid in parents if postgres_marker and postgres_marker in _cmdline(pid)]
    found_parts: dict[int, tuple[str, float]] = {}
    seen: set[int] = set()
    stack: list[tuple[int, str | None]] = [(pid, None) for pid in tops]
    while stack:
        pid, inherited = stack.pop()
        if pid in seen or pid not in cpu:
            continue
        seen.add(pid)
        part = _part(_cmdline(pid)) or inherited
        if part is not None:
            found_parts[pid] = (part, cpu[pid])
        stack += [(child, part) for child in children.get(pid, [])]
    return found_parts


def per_request_ms(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], requests: float
) -> dict[str, float]:
    """CPU milliseconds per request of each part that did measurable work, from processes
    alive at the end (one that exited meanwhile, like a closed connection's backend, is not
    counted: an undercount, never a negative); nothing for a run of too few requests (other
    work on the machine would dominate the quotient)."""
    if requests < MIN_REQUESTS:
        return {}
    spent: dict[str, float] = {}
    for pid, (part, seconds) in after.items():
        earlier = before.get(pid)
        start = earlier[1] if earlier is not None and earlier[0] == part else 0.0
        spent[part] = spent.get(part, 0.0) + max(0.0, seconds - start)
    return {
        part: round(total * 1000 / requests, 3) for part, total in spent.items() if total > 0.01
    }
