"""pg-restart-fast / pg-restart-immediate: `pg_ctl stop -m fast/immediate`, then start
again, under writes, registrations and logins. Both services' pools must recover by
themselves (no service restarted), each within the recovery bound."""

from __future__ import annotations

import asyncio
import time

from faults.context import RECOVERY_BOUND_SECONDS, Ctx, Result, check_recovery, in_thread, result_of
from faults.history import History
from faults.loads import AccountLoad, WriteLoad, check_accounts, check_articles


async def pg_restart(ctx: Ctx, mode: str) -> Result:
    name, started, history = f"pg-restart-{mode}", time.monotonic(), History()
    prefix = ctx.prefix(name)
    assert ctx.cluster.db is not None
    async with (
        WriteLoad(ctx, history, prefix, ctx.writers, writers=5) as writes,
        AccountLoad(ctx, history, name, registrars=1, logins=1) as accounts,
    ):
        await asyncio.sleep(ctx.t(1.0, 3.0))
        history.mark_fault()
        await in_thread(ctx.cluster.db.restart, mode, ctx.t(0.5, 2.0))
        history.mark_healed()
        await asyncio.sleep(ctx.t(3.0, 6.0))
    articles = await check_articles(ctx, history, prefix, writes.writes)
    users = await check_accounts(ctx, name, accounts.writes)
    result = result_of(name, history, started, articles, users)
    check_recovery(result, history, ["create"])
    # Both pools recovered by themselves (no restart of a service): health says so too.
    for service in (ctx.auth, ctx.articles):
        if not service.running():
            result.violations.append(f"{service.name} exited during the PostgreSQL restart")
    auth_recovery = history.recovery_seconds(["login", "register"])
    result.notes.append(
        "auth recovered in "
        + ("-" if auth_recovery is None else f"{auth_recovery:.2f} s")
        + f", articles in {result.recovery_s} s"
    )
    if auth_recovery is not None and auth_recovery > RECOVERY_BOUND_SECONDS:
        result.violations.append(f"auth did not recover within {RECOVERY_BOUND_SECONDS:.0f} s")
    return result


async def fast(ctx: Ctx) -> Result:
    return await pg_restart(ctx, "fast")


async def immediate(ctx: Ctx) -> Result:
    return await pg_restart(ctx, "immediate")
