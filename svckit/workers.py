"""Run a server in N forked worker processes, and keep them running.

Workers are forked before any gRPC object exists. Each binds the shared port
(SO_REUSEPORT, for plain clients) and a port of its own (base + index), so a proxy that
keeps a few long-lived HTTP/2 connections can list the workers as separate endpoints.

The parent is a supervisor: a worker that dies is forked again in its slot after an
exponentially growing pause. A slot that keeps dying (`RestartPolicy.limit` exits within
`window_seconds`) is a crash loop: the supervisor stops the other workers and exits
non-zero, so the supervisor above it (the stack launcher, Kubernetes) acts. Only
SIGTERM/SIGINT stop the workers on purpose; each then gets `stop_timeout_seconds` to
drain before it is killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import uvloop

Serve = Callable[[int], Coroutine[Any, Any, None]]

log = logging.getLogger("svckit.workers")

_PR_SET_PDEATHSIG = 1  # prctl(2)
CRASH_LOOP_EXIT = 3  # the exit code of a service that gave up on a crash-looping worker


@dataclass(frozen=True)
class RestartPolicy:
    """How a supervisor restarts what dies, and when it gives up."""

    backoff_initial_seconds: float = 0.5
    backoff_max_seconds: float = 10.0
    limit: int = 5  # this many exits of one slot ...
    window_seconds: float = 60.0  # ... within this long is a crash loop
    stop_timeout_seconds: float = 20.0  # SIGTERM to SIGKILL when stopping

    def delay(self, recent_exits: int) -> float:
        """The pause before the next start, after `recent_exits` exits within the window."""
        exponent = max(recent_exits - 1, 0)
        return float(min(self.backoff_initial_seconds * 2**exponent, self.backoff_max_seconds))


@dataclass
class ExitHistory:
    """When one supervised thing exited recently: decides the backoff and the crash loop."""

    policy: RestartPolicy
    exits: deque[float] = field(default_factory=deque)

    def record(self, now: float) -> None:
        self.exits.append(now)
        while self.exits and now - self.exits[0] > self.policy.window_seconds:
            self.exits.popleft()

    def crash_looping(self) -> bool:
        return len(self.exits) >= self.policy.limit

    def next_delay(self) -> float:
        return self.policy.delay(len(self.exits))


def describe_exit(code: int) -> str:
    """'exit code 1' or 'killed by SIGKILL', from an exit code as Popen.returncode gives it."""
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


def run_workers(
    count: int,
    serve: Serve,
    policy: RestartPolicy | None = None,
    on_exit: Callable[[int], None] | None = None,
) -> int:
    """Run `serve(index)` under uvloop in `count` supervised processes; return an exit code.

    With one worker there is nothing to supervise: it runs in this process, and the
    supervisor above restarts the whole service. `on_exit(pid)` hears of each worker's end.
    """
    if count <= 1:
        uvloop.run(serve(0))
        return 0
    return _Supervisor(count, serve, policy or RestartPolicy(), on_exit).run()


def _die_with(parent: int) -> None:
    """Have the kernel send SIGTERM when the supervisor dies (Linux), so a worker whose
    supervisor was killed drains and exits instead of serving on as an orphan."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: orphans are left to the outer supervisor
        return
    if os.getppid() != parent:  # it died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _child(serve: Serve, index: int, parent: int) -> None:
    """In the forked worker: serve, then leave without running the parent's cleanup."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    _die_with(parent)
    code = 0
    try:
        uvloop.run(serve(index))
    except BaseException:  # noqa: BLE001 - reported, then the worker exits non-zero
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


class _Supervisor:
    def __init__(
        self,
        count: int,
        serve: Serve,
        policy: RestartPolicy,
        on_exit: Callable[[int], None] | None = None,
    ) -> None:
        self.serve = serve
        self.policy = policy
        self.on_exit = on_exit
        self.running: dict[int, int] = {}  # pid -> slot
        self.due: dict[int, float] = {}  # slot -> monotonic time of its next start
        self.history = {slot: ExitHistory(policy) for slot in range(count)}
        self.stopping = False
        self.code = 0

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        for slot in self.history:
            self._start(slot)
        while not self.stopping:
            self._reap()
            self._start_due()
            time.sleep(0.05)
        self._drain()
        return self.code

    def _on_signal(self, _signum: int, _frame: object) -> None:
        self.stopping = True

    def _start(self, slot: int) -> None:
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            _child(self.serve, slot, parent)
        self.running[pid] = slot

    def _start_due(self) -> None:
        now = time.monotonic()
        for slot, when in list(self.due.items()):
            if when <= now:
                del self.due[slot]
                log.info("worker restarting", extra={"worker": slot})
                self._start(slot)

    def _reap(self) -> None:
        while self.running:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return
            slot = self.running.pop(pid, None)
            if self.on_exit is not None:
                self.on_exit(pid)
            if slot is not None:
                self._exited(slot, pid, status)

    def _exited(self, slot: int, pid: int, status: int) -> None:
        history = self.history[slot]
        history.record(time.monotonic())
        how = describe_exit(os.waitstatus_to_exitcode(status))
        if history.crash_looping():
            log.error(
                "worker crash loop: giving up, stopping the service",
                extra={"worker": slot, "worker_pid": pid, "how": how, "exits": len(history.exits)},
            )
            print(
                f"worker {slot} exited {len(history.exits)} times within "
                f"{self.policy.window_seconds:g} s (last: {how}); stopping the service",
                file=sys.stderr,
                flush=True,
            )
            self.code = CRASH_LOOP_EXIT
            self.stopping = True
            return
        delay = history.next_delay()
        log.warning(
            "worker exited; restart scheduled",
            extra={"worker": slot, "worker_pid": pid, "how": how, "restart_in_s": delay},
        )
        self.due[slot] = time.monotonic() + delay

    def _drain(self) -> None:
        """SIGTERM every worker, wait up to the stop timeout, then SIGKILL what is left."""
        self.due.clear()
        self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + self.policy.stop_timeout_seconds
        while self.running:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid:
                self.running.pop(pid, None)
                code = os.waitstatus_to_exitcode(status)
                self.code = self.code or (code if code > 0 else 0)
                continue
            if time.monotonic() > deadline:
                log.error("workers did not stop in time; killing them")
                self._signal_all(signal.SIGKILL)
                self.code = self.code or 1
                deadline = float("inf")
            time.sleep(0.05)

    def _signal_all(self, signum: int) -> None:
        for pid in self.running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
