"""`make run` as a subprocess on free ports: what the stack tests and the fault suite drive.

`LaunchedStack` starts `python -m devstack run` with its own data folder and ports, keeps
its output (also in `<data>/launcher.log`), finds the processes it supervises, and stops
it with SIGTERM the way Ctrl-C would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from devstack.control import request_scale
from devstack.postgres import free_port_block
from devstack.settings import StackSettings

ROOT = Path(__file__).resolve().parent.parent
READY = "The blog stack is running"
PREFIXES = ("AUTH_", "ARTICLES_", "GATEWAY_", "BLOG_")


def stack_env(data_dir: Path, *, workers: int = 2, **extra: str) -> dict[str, str]:
    """The environment of a stack on a fresh block of free ports, with nothing inherited
    from the caller's own AUTH_/ARTICLES_/GATEWAY_/BLOG_ settings."""
    base = free_port_block(12)
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIXES)}
    env.update(
        BLOG_DATA_DIR=str(data_dir),
        BLOG_PG_PORT=str(base),
        AUTH_PORT=str(base + 1),
        AUTH_WORKER_BASE_PORT=str(base + 2),  # workers on base+2 ... base+3
        AUTH_WORKERS=str(workers),
        ARTICLES_PORT=str(base + 4),
        ARTICLES_WORKER_BASE_PORT=str(base + 5),  # base+5 ... base+6
        ARTICLES_WORKERS=str(workers),
        GATEWAY_PORT=str(base + 8),
        GATEWAY_ADMIN_PORT=str(base + 9),
        GATEWAY_STATS_PORT=str(base + 7),
        AUTH_METRICS_PORT=str(base + 10),
        ARTICLES_METRICS_PORT=str(base + 11),
        GATEWAY_HEALTH_CHECK_INTERVAL_SECONDS="1",
    )
    env.update(extra)
    return env


class LaunchedStack:
    """One `python -m devstack run` process and what it prints."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.data_dir = Path(env["BLOG_DATA_DIR"])
        self.process: subprocess.Popen[bytes] | None = None
        self.lines: list[str] = []
        self._seen = threading.Condition()

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.env['GATEWAY_PORT']}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.env['GATEWAY_ADMIN_PORT']}"

    def start(self, timeout: float = 180.0) -> None:
        """Start the launcher and return once it says the stack is running."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.lines.clear()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devstack", "run"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        threading.Thread(target=self._read, args=(self.process,), daemon=True).start()
        self.wait_for(READY, timeout)

    def _read(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        with (self.data_dir / "launcher.log").open("a") as log:
            for raw in process.stdout:
                line = raw.decode(errors="replace")
                log.write(line)
                with self._seen:
                    self.lines.append(line)
                    self._seen.notify_all()

    def output(self) -> str:
        with self._seen:
            return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 60.0, *, after: int = 0) -> int:
        """Wait until a line (from index `after` on) contains `text`; return its index."""
        deadline = time.monotonic() + timeout
        with self._seen:
            while True:
                for index in range(after, len(self.lines)):
                    if text in self.lines[index]:
                        return index
                left = deadline - time.monotonic()
                exited = self.process is not None and self.process.poll() is not None
                if left <= 0 or (exited and not self._seen.wait(0.5)):
                    tail = "".join(self.lines[-40:])
                    raise AssertionError(f"{text!r} did not appear; output:\n{tail}")
                self._seen.wait(min(left, 0.5))

    def launcher_lines(self) -> list[str]:
        """What the launcher itself said (restarts, scaling), without the services' logs."""
        with self._seen:
            return [line for line in self.lines if line.startswith("[stack]")]

    def service_pids(self, module: str) -> list[int]:
        """The supervising process of each replica of `module` (auth_service, article_service)."""
        assert self.process is not None
        return _children(self.process.pid, module)

    def worker_pids(self, service_pid: int) -> list[int]:
        return _children(service_pid, "")

    def scale(self, service: str, count: int) -> None:
        request_scale(StackSettings(data_dir=self.data_dir), service, count)

    def stop(self, timeout: float = 90.0) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> LaunchedStack:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _children(parent: int, module: str) -> list[int]:
    """Live children of `parent` whose command line names `module`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, ppid = fields[0], int(fields[1])
        if ppid == parent and state != "Z" and module in command:
            found.append(int(entry.name))
    return sorted(found)
