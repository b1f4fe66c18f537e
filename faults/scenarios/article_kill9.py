"""article-kill9: kill -9 of the whole article service, then of one worker, under writes
(gRPC and HTTP); restart. The ids of retried creates must match the first answer."""

from __future__ import annotations

import asyncio
import time

from faults.context import Ctx, Result, check_recovery, result_of
from faults.history import History
from faults.loads import WriteLoad, check_articles
from faults.scenarios.common import crash, crash_note

NAME = "article-kill9"


async def run(ctx: Ctx) -> Result:
    started, history = time.monotonic(), History()
    prefix = ctx.prefix(NAME)
    kills = ["all"] if ctx.quick else ["all", "one worker"]
    async with WriteLoad(ctx, history, prefix, ctx.writers, writers=6) as load:
        await asyncio.sleep(ctx.t(1.0, 3.0))
        startup = []
        for how in kills:
            startup.append(await crash(ctx.articles, history, how))
            await asyncio.sleep(ctx.t(1.5, 4.0))
    check = await check_articles(ctx, history, prefix, load.writes)
    result = result_of(NAME, history, started, check)
    check_recovery(result, history, ["create"])
    result.notes.append(crash_note(kills, startup))
    return result
