"""Cooperative cancellation for the retry loops of background tasks, and the one such loop
that keeps an in-memory view fresh from the database."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable


def stop_if_cancelled() -> None:
    """Raise CancelledError if this task was asked to stop. In Python 3.11 a connect timeout
    (asyncio.wait_for) can swallow a cancellation; a retry loop must not then run forever."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def refresh_forever(
    refresh: Callable[[], Awaitable[None]], *, interval: float, what: str, log: logging.Logger
) -> None:
    """Call `refresh()` every `interval` seconds until cancelled. A failure (the database
    may be away for a while) is logged once, as "<what> not refreshed", until one succeeds."""
    failing = False
    while True:
        stop_if_cancelled()
        try:
            await refresh()
            failing = False
        except Exception as exc:  # noqa: BLE001 - logged once and retried: never stop the caller
            if not failing:
                log.warning(f"{what} not refreshed", extra={"error": type(exc).__name__})
            failing = True
        await asyncio.sleep(interval)
