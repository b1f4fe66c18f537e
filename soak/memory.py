"""Resident memory of the stack's processes, read from /proc (Linux)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
# What a process is, by its command line; first match wins.
KINDS = (
    ("auth_service", "auth service"),
    ("article_service", "article service"),
    ("envoy", "envoy"),
    ("postgres", "postgresql"),
)
SERVICES = ("auth service", "article service")


@dataclass(frozen=True)
class Sample:
    """RSS in bytes per process (pid -> kind, rss)."""

    processes: dict[int, tuple[str, int]]

    def by_kind(self) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for kind, rss in self.processes.values():
            totals[kind] += rss
        return dict(totals)

    def count(self, kind: str) -> int:
        return sum(1 for k, _ in self.processes.values() if k == kind)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in (PROC / str(pid) / "task").glob("*/children"):
        try:
            found += [int(child) for child in task.read_text().split()]
        except OSError:
            continue
    return found


def descendants(root: int) -> list[int]:
    seen: list[int] = []
    todo = [root]
    while todo:
        pid = todo.pop()
        for child in _children(pid):
            if child not in seen:
                seen.append(child)
                todo.append(child)
    return seen


def _kind(pid: int) -> str | None:
    try:
        cmdline = (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    for needle, kind in KINDS:
        if needle in cmdline:
            return kind
    return None


def _rss(pid: int) -> int | None:
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def sample(root: int) -> Sample:
    """RSS of every known process under `root` (the devstack launcher)."""
    processes: dict[int, tuple[str, int]] = {}
    for pid in descendants(root):
        kind, rss = _kind(pid), _rss(pid)
        if kind is not None and rss is not None:
            processes[pid] = (kind, rss)
    return Sample(processes)


def mib(value: float) -> str:
    return f"{value / 2**20:.1f} MiB"
