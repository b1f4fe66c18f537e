"""email-race: parallel registrations of one email in varied case (gRPC and HTTP). Exactly
one wins each round; the rest answer ALREADY_EXISTS / 409."""

from __future__ import annotations

import asyncio
import random
import time

from faults.context import Ctx, Result, result_of
from faults.history import History, Outcome, Write, check_set
from faults.loads import register_with_retries

NAME = "email-race"


def vary_case(text: str, index: int) -> str:
    rng = random.Random(index)  # noqa: S311 - a repeatable case pattern, not a secret
    return "".join(c.upper() if rng.random() < 0.5 else c for c in text)


async def _round(ctx: Ctx, history: History, r: int, parallel: int) -> list[Write]:
    """One email registered `parallel` times at once; every write of the round."""
    local = f"race{ctx.tag}r{r}"
    variants = [vary_case(f"{local}{ctx.domain(NAME)}", i) for i in range(parallel)]
    writes = [Write(v.lower()) for v in variants]
    await asyncio.gather(
        *(
            register_with_retries(
                ctx.clients,
                history,
                w,
                v,
                f"{local}u{i}",
                http_client=ctx.clients.http if i % 2 else None,
                deadline=15.0,
                retry_until=0.0,
                stub=i,
            )
            for i, (w, v) in enumerate(zip(writes, variants, strict=True))
        )
    )
    return writes


async def run(ctx: Ctx) -> Result:
    started, history = time.monotonic(), History()
    rounds, parallel = (2, 4) if ctx.quick else (4, 6)
    writes: list[Write] = []
    winners = 0
    for r in range(rounds):
        round_writes = await _round(ctx, history, r, parallel)
        oks = [w for w in round_writes if w.outcome is Outcome.OK]
        others = {a.code for w in round_writes if w.outcome is not Outcome.OK for a in w.attempts}
        if len(oks) != 1:
            history.violate(f"round {r}: {len(oks)} registrations of one email succeeded")
        if others - {"ALREADY_EXISTS", "HTTP 409"}:
            history.violate(f"round {r}: losers answered {sorted(others)}")
        winners += len(oks)
        writes.append(oks[0] if oks else round_writes[0])
    found = await ctx.truth.users(ctx.domain(NAME))
    check = check_set(writes, found)
    result = result_of(NAME, history, started, check)
    result.notes.append(f"{rounds} rounds of {parallel} parallel registrations, {winners} won")
    return result
