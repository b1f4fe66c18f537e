"""A tiny supervised program for the worker-supervisor tests.

Each worker records its pid in DIR/slot-<index>.<pid> and waits; the worker of slot
CRASH_SLOT (if set) dies at start, as a worker that cannot bind its port would; with
IGNORE_SIGTERM set, workers never finish draining.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from svckit import logs
from svckit.workers import RestartPolicy, run_workers


async def serve(index: int) -> None:
    folder = Path(sys.argv[1])
    if os.environ.get("CRASH_SLOT") == str(index):
        raise RuntimeError(f"worker {index} cannot start")
    (folder / f"slot-{index}.{os.getpid()}").touch()
    stop = asyncio.Event()
    if os.environ.get("IGNORE_SIGTERM"):  # a worker stuck in its drain
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, lambda: None)
    else:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    (folder / f"drained-{index}.{os.getpid()}").touch()


if __name__ == "__main__":
    logs.configure("test", "INFO")
    policy = RestartPolicy(
        backoff_initial_seconds=0.1, backoff_max_seconds=0.4, limit=4, stop_timeout_seconds=2.0
    )
    sys.exit(run_workers(2, serve, policy))
