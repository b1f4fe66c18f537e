"""Whether a process is still there: the one test the launcher, PostgreSQL's keeper and the
metrics exporter all need (a zombie counts as gone)."""

from __future__ import annotations

import os
from pathlib import Path


def alive(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie (on Linux, where /proc tells)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process
    try:
        with open(f"/proc/{pid}/stat") as stat_file:
            # pid (command) state ...: the command may hold spaces and parentheses.
            return stat_file.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return not Path("/proc/self/stat").exists()  # it just exited, or no /proc here
