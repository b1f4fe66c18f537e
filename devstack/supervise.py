"""A child process the stack launcher keeps running: restarted with backoff when it dies.

The same restart rules as the services' own worker supervisor (svckit.workers): a pause
that doubles after each exit, and a crash loop (too many exits within a window) that
ends the stack instead of spinning forever.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from svckit.workers import ExitHistory, RestartPolicy, describe_exit

Spawn = Callable[[], "subprocess.Popen[bytes]"]


class CrashLoopError(RuntimeError):
    """A supervised process kept dying: the stack gives up on it."""


def say(message: str) -> None:
    """What the launcher did, for the person watching `make run` (and its log)."""
    print(f"[stack] {message}", file=sys.stderr, flush=True)


@dataclass
class Child:
    """One supervised process: `spawn` starts it again after it dies."""

    name: str
    spawn: Spawn
    policy: RestartPolicy
    process: subprocess.Popen[bytes] | None = None
    retiring: bool = False  # stopped on purpose (scale-in): its exit is not a crash
    due: float = 0.0  # when the next start is due, while it is down
    history: ExitHistory = field(init=False)

    def __post_init__(self) -> None:
        self.history = ExitHistory(self.policy)

    def start(self) -> None:
        self.process = self.spawn()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tend(self) -> bool:
        """Restart if dead and due; False once a retiring child has exited (drop it).

        Raises CrashLoopError when it died too often within the policy's window.
        """
        now = time.monotonic()
        process = self.process
        if process is not None and process.poll() is not None:
            how = describe_exit(process.returncode)
            self.process = None
            if self.retiring:
                say(f"{self.name} (pid {process.pid}) stopped: {how}")
                return False
            self.history.record(now)
            if self.history.crash_looping():
                raise CrashLoopError(
                    f"{self.name} exited {len(self.history.exits)} times within "
                    f"{self.policy.window_seconds:g} s (last: {how}); giving up"
                )
            delay = self.history.next_delay()
            self.due = now + delay
            say(f"{self.name} (pid {process.pid}) exited: {how}; restarting in {delay:g} s")
        if self.process is None and not self.retiring and now >= self.due:
            self.start()
            say(f"{self.name} restarted (pid {self.pid})")
        return True

    def terminate(self) -> None:
        if self.alive() and self.process is not None:
            self.process.terminate()

    def wait(self, timeout: float) -> None:
        """Wait for a terminated child; kill it if it does not go within `timeout`."""
        if self.process is None:
            return
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            say(f"{self.name} did not stop within {timeout:g} s; killing it")
            self.process.kill()
            self.process.wait()
