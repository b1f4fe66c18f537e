"""The fault more than one scenario inflicts: kill -9 of a whole service or of one worker."""

from __future__ import annotations

import asyncio

from faults.cluster import Service
from faults.context import RNG, in_thread
from faults.history import History


async def crash(service: Service, history: History, how: str) -> float:
    """kill -9 the whole service ("all", then start it again) or one worker (its service's
    supervisor forks a new one); the seconds until every worker served again."""
    history.mark_fault()
    if how == "all":
        await in_thread(service.kill9)
        await in_thread(service.start, wait=False)
    else:
        before = set(service.worker_pids())
        killed = service.kill9_worker(RNG.randrange(service.workers))
        while killed in service.worker_pids() or set(service.worker_pids()) <= before - {killed}:
            if service.process is not None and service.process.poll() is not None:
                raise RuntimeError(f"{service.name} exited when one worker was killed")
            await asyncio.sleep(0.05)
    history.mark_healed()
    return float(await in_thread(service.wait_serving, 60.0))


def crash_note(kills: list[str], startup: list[float]) -> str:
    return (
        f"kills: {', '.join(kills)}; serving again after "
        + ", ".join(f"{s:.1f}" for s in startup)
        + " s"
    )
