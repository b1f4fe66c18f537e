"""Run a server in N forked worker processes, forked before any gRPC object exists.

Each worker binds the shared port (SO_REUSEPORT, for plain clients) and a port of its own
(base + index), so a proxy that keeps a few long-lived HTTP/2 connections can list the
workers as separate endpoints and balance across them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import uvloop

Serve = Callable[[int], Coroutine[Any, Any, None]]


def run_workers(count: int, serve: Serve) -> int:
    """Run `serve(index)` under uvloop in `count` processes; return an exit code."""
    if count <= 1:
        uvloop.run(serve(0))
        return 0
    children: dict[int, int] = {}
    for index in range(count):
        pid = os.fork()
        if pid == 0:  # the child: serve, then leave without running the parent's cleanup
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
        children[pid] = index
    return _supervise(children)


def _supervise(children: dict[int, int]) -> int:
    """Forward SIGTERM/SIGINT to the workers and wait for them all."""

    def forward(signum: int, _frame: object) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    worst = 0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        if pid in children:
            del children[pid]
            code = os.waitstatus_to_exitcode(status)
            worst = worst or (code if code > 0 else 0)
            if code != 0 and children:
                forward(
                    signal.SIGTERM, None
                )  # one worker died: stop the rest, let a supervisor restart
    return worst
