"""Cooperative cancellation for the retry loops of background tasks."""

from __future__ import annotations

import asyncio


def stop_if_cancelled() -> None:
    """Raise CancelledError if this task was asked to stop. In Python 3.11 a connect timeout
    (asyncio.wait_for) can swallow a cancellation; a retry loop must not then run forever."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
