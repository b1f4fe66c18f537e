"""The scenarios, one module each: each inflicts one fault under load, then checks what
every client was told against what the database holds.

Every scenario leaves the stack healthy for the next (the runner checks that too), uses its
own title prefix / email domain, and returns a Result for the table. SCENARIOS is the
registry, by the names `python -m faults --only NAME` takes, in the order a full run goes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from faults.context import Ctx, Result
from faults.scenarios import (
    article_kill9,
    auth_cutoff,
    auth_kill9,
    deletions_chaos,
    email_race,
    etag_race,
    pg_freeze,
    pg_restart,
    renames_chaos,
    sigterm_inflight,
)

Scenario = Callable[[Ctx], Awaitable[Result]]
SCENARIOS: dict[str, Scenario] = {
    article_kill9.NAME: article_kill9.run,
    auth_kill9.NAME: auth_kill9.run,
    "pg-restart-fast": pg_restart.fast,
    "pg-restart-immediate": pg_restart.immediate,
    pg_freeze.NAME: pg_freeze.run,
    sigterm_inflight.NAME: sigterm_inflight.run,
    auth_cutoff.NAME: auth_cutoff.run,
    deletions_chaos.NAME: deletions_chaos.run,
    renames_chaos.NAME: renames_chaos.run,
    email_race.NAME: email_race.run,
    etag_race.NAME: etag_race.run,
}
