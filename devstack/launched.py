"""`make run` as a subprocess on free ports: how the harnesses and the stack tests start the
whole stack (the bench, the soak, the fuzzer, the healing and scaling runs, tests/stack).

`stack_env` gives a stack its own data folder and a fresh block of ports; `LaunchedStack`
starts `python -m devstack run` with it, sends its output straight to a log file (no
reader in between, so a bench measures the stack, not us), reads that file only when asked
(`lines`, `wait_for`), finds the processes it supervises, and stops it with SIGTERM the way
Ctrl-C would. `launched()` is the same as a context manager in a folder of its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from devstack.bootstrap import DATABASE
from devstack.control import request_scale
from devstack.database import service_urls
from devstack.ports import free_port_block
from devstack.postgres import LocalPostgres
from devstack.services import clean_env
from devstack.settings import StackSettings

ROOT = Path(__file__).resolve().parent.parent
READY = "The blog stack is running"
START_TIMEOUT_SECONDS = 180.0
STOP_TIMEOUT_SECONDS = 90.0


def stack_env(data_dir: Path, *, workers: int = 2, **extra: str) -> dict[str, str]:
    """The environment of a stack on a fresh block of free ports, with nothing inherited
    from the caller's own AUTH_/ARTICLES_/GATEWAY_/BLOG_ settings; `extra` wins."""
    base = free_port_block(8 + 2 * workers)
    auth, articles = base + 1, base + 2 + workers  # each followed by its workers' ports
    gateway = base + 3 + 2 * workers
    env = clean_env()
    env.update(
        BLOG_DATA_DIR=str(data_dir),
        BLOG_PG_PORT=str(base),
        AUTH_PORT=str(auth),
        AUTH_WORKER_BASE_PORT=str(auth + 1),
        AUTH_WORKERS=str(workers),
        ARTICLES_PORT=str(articles),
        ARTICLES_WORKER_BASE_PORT=str(articles + 1),
        ARTICLES_WORKERS=str(workers),
        GATEWAY_PORT=str(gateway),
        GATEWAY_ADMIN_PORT=str(gateway + 1),
        GATEWAY_STATS_PORT=str(gateway + 2),
        AUTH_METRICS_PORT=str(gateway + 3),
        ARTICLES_METRICS_PORT=str(gateway + 4),
        GATEWAY_HEALTH_CHECK_INTERVAL_SECONDS="1",
    )
    env.update(extra)
    return env


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Until `url` answers 200; fails at once if `process` (what serves it) exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:  # noqa: S310 - our own URL
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def stop_process(process: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM, then SIGKILL (to its whole process group too, when it leads one, as a
    launched stack does) if it is not gone within `timeout`; its exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # no such group unless it leads its own
        process.kill()
        return process.wait()


class LaunchedStack:
    """One `python -m devstack run` process, its addresses and what it printed."""

    def __init__(self, env: dict[str, str], *, log: Path | None = None) -> None:
        self.env = env
        self.data_dir = Path(env["BLOG_DATA_DIR"])
        self.log_path = log or self.data_dir / "launcher.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._lines: list[str] = []
        self._read_from = 0  # where in the log this run's unread output starts
        self._out: IO[bytes] | None = None

    # --- where it is ------------------------------------------------------------------------

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.env['GATEWAY_PORT']}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.env['GATEWAY_ADMIN_PORT']}"

    @property
    def auth_target(self) -> str:
        return f"127.0.0.1:{self.env['AUTH_PORT']}"

    @property
    def articles_target(self) -> str:
        return f"127.0.0.1:{self.env['ARTICLES_PORT']}"

    def worker_ports(self, prefix: str) -> tuple[int, ...]:
        """The own ports of the workers of service `prefix` (AUTH, ARTICLES)."""
        base = int(self.env[f"{prefix}_WORKER_BASE_PORT"])
        return tuple(base + i for i in range(int(self.env[f"{prefix}_WORKERS"])))

    @property
    def postgres(self) -> LocalPostgres:
        """The embedded PostgreSQL the launcher keeps (to kill it, or to find its pid)."""
        return LocalPostgres(self.data_dir / "postgres", int(self.env["BLOG_PG_PORT"]))

    def superuser_url(self, database: str = DATABASE) -> str:
        """PostgreSQL as its superuser (to check what the services stored)."""
        return self.postgres.superuser_url(database)

    def database_url(self, service: str) -> str:
        """The database URL of `service` (auth, articles) as its own role, for one more
        process of it beside the stack's."""
        return service_urls(self.data_dir, int(self.env["BLOG_PG_PORT"]))[service]

    # --- starting and stopping --------------------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Start the launcher; return once it says the stack is running and the gateway
        answers a real request (Envoy is up before its first health checks pass)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._out = self.log_path.open("ab")
        self._read_from, self._lines = self._out.tell(), []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devstack", "run"],
            cwd=ROOT,
            env=self.env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: a last-resort kill reaches its children
        )
        try:
            self.wait_for(READY, timeout)
            wait_http(f"{self.gateway_url}/articles?limit=1", self.process, timeout=30)
        except BaseException:
            self.stop()  # nothing it started may outlive a failed start
            raise

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int:
        """SIGTERM (services drained, Envoy and PostgreSQL stopped); its exit code."""
        if self.process is None:
            return 0
        try:
            return stop_process(self.process, timeout)
        finally:
            if self._out is not None:
                self._out.close()
                self._out = None

    def __enter__(self) -> LaunchedStack:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- what it said -------------------------------------------------------------------------

    @property
    def lines(self) -> list[str]:
        """Every complete line this run printed so far (read from the log on demand)."""
        with contextlib.suppress(FileNotFoundError), self.log_path.open("rb") as log:
            log.seek(self._read_from)
            chunk = log.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self._read_from += len(complete)
            self._lines += complete.decode(errors="replace").splitlines(keepends=True)
        return self._lines

    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 60.0, *, after: int = 0) -> int:
        """Wait until a line (from index `after` on) contains `text`; return its index.
        AssertionError, with the last lines, if it does not appear in time."""
        deadline = time.monotonic() + timeout
        while True:
            exited = self.process is not None and self.process.poll() is not None
            lines = self.lines  # read after the exit check: nothing it printed is missed
            for index in range(after, len(lines)):
                if text in lines[index]:
                    return index
            after = max(after, len(lines))
            if exited or time.monotonic() > deadline:
                tail = "".join(lines[-40:])
                raise AssertionError(f"{text!r} did not appear; output:\n{tail}")
            time.sleep(0.1)

    def launcher_lines(self) -> list[str]:
        """What the launcher itself said (restarts, scaling), without the services' logs."""
        return [line for line in self.lines if line.startswith("[stack]")]

    # --- its processes ------------------------------------------------------------------------

    def service_pids(self, module: str) -> list[int]:
        """The supervising process of each replica of `module` (auth_service, article_service)."""
        assert self.process is not None
        return children(self.process.pid, module)

    def worker_pids(self, service_pid: int) -> list[int]:
        return children(service_pid)

    def scale(self, service: str, count: int) -> None:
        request_scale(StackSettings(data_dir=self.data_dir), service, count)


@contextlib.contextmanager
def launched(
    workdir: Path | None = None, *, workers: int = 2, **extra: str
) -> Iterator[LaunchedStack]:
    """A running stack with its data in `workdir`/data, its output in `workdir`/stack.log and
    Envoy's access log in `workdir`/gateway-access.log (out of the stack log, which holds
    the services' call lines); `workdir` is a temporary folder, removed afterwards, when
    None. Stopped on the way out, also after a failure."""
    with contextlib.ExitStack() as cleanup:
        if workdir is None:
            workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="blog-")))
        workdir.mkdir(parents=True, exist_ok=True)
        extra.setdefault("GATEWAY_ACCESS_LOG_PATH", str(workdir / "gateway-access.log"))
        env = stack_env(workdir / "data", workers=workers, **extra)
        stack = LaunchedStack(env, log=workdir / "stack.log")
        cleanup.callback(stack.stop)
        stack.start()
        yield stack


def stop_on_sigterm() -> None:
    """Make SIGTERM unwind like Ctrl-C, so a stack started here is stopped, not orphaned."""

    def on_sigterm(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)


def children(parent: int, module: str = "") -> list[int]:
    """Live children of `parent` (zombies left out) whose command line names `module`."""
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
