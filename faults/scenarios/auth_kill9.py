"""auth-kill9: kill -9 of the whole auth service, then of one worker, under registrations
and logins; restart. Every account must have its outbox "created" event."""

from __future__ import annotations

import asyncio
import time

from faults.context import Ctx, Result, check_recovery, result_of
from faults.history import History
from faults.loads import AccountLoad, check_accounts
from faults.scenarios.common import crash, crash_note

NAME = "auth-kill9"


async def run(ctx: Ctx) -> Result:
    started, history = time.monotonic(), History()
    kills = ["all"] if ctx.quick else ["all", "one worker"]
    async with AccountLoad(ctx, history, NAME, registrars=2, logins=1) as load:
        await asyncio.sleep(ctx.t(1.5, 3.0))
        startup = []
        for how in kills:
            startup.append(await crash(ctx.auth, history, how))
            await asyncio.sleep(ctx.t(2.0, 4.0))
    check = await check_accounts(ctx, NAME, load.writes)
    result = result_of(NAME, history, started, check)
    check_recovery(result, history, ["register", "login"])
    result.notes.append(crash_note(kills, startup))
    return result
