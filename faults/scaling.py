"""Replicas that come and go under `make run`, under steady load through the gateway.

1. Two article replicas serve; `scale articles 3` adds one: it must take traffic within
   seconds, with no failed request.
2. `scale articles 2` drains one (out of Envoy's endpoint file first, then SIGTERM): no
   failed request.
3. The account-feed consumer's holder is killed: another replica takes the lock (never two
   holders at once), and an account deleted meanwhile has its articles removed once.
Throughput is printed before and after each step; nothing acknowledged may be lost.

    python -m faults.scaling
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from article_service.user_feed import LOCK_KEY
from devstack.launched import LaunchedStack, stack_env
from faults.gateway_load import GatewayLoad, register

WINDOW_SECONDS = 4.0
JOIN_LIMIT_SECONDS = 15.0  # from the scale request to the new replica's first request
HOLDER = "feed consumer holds the lock"


def scaling_env(data_dir: Path) -> dict[str, str]:
    """Two article replicas of one worker each: every replica is one process."""
    return stack_env(
        data_dir, workers=1, ARTICLES_REPLICAS="2", ARTICLES_FEED_LOCK_RETRY_SECONDS="1"
    )


@dataclass
class Outcome:
    rates: list[tuple[str, float]] = field(default_factory=list)  # (phase, req/s)
    join_seconds: float = 0.0  # scale request -> the new replica served a request
    failed_while_scaling: list[str] = field(default_factory=list)
    holders: list[int] = field(default_factory=list)  # pids that held the feed lock, in order
    max_lock_holders: int = 0
    failover_seconds: float = 0.0
    deleted_articles_left: int = -1
    deletions_recorded: int = 0
    lost: list[int] = field(default_factory=list)

    def table(self) -> str:
        rows = [f"{phase:<40} {rate:>8.0f} req/s" for phase, rate in self.rates]
        rows.append(f"new replica took traffic {self.join_seconds:.1f} s after the request")
        rows.append(f"failed requests while scaling: {len(self.failed_while_scaling)}")
        rows.append(
            f"feed holder failover {self.failover_seconds:.1f} s ({self.holders}); "
            f"most holders at once {self.max_lock_holders}; deleted account's articles "
            f"left {self.deleted_articles_left}, deletion rows {self.deletions_recorded}"
        )
        rows.append(f"lost {len(self.lost)}")
        return "\n".join(rows)


def _articles_rq_total(stack: LaunchedStack, host: str) -> int:
    text = httpx.get(f"{stack.admin_url}/clusters", timeout=2).text
    pattern = re.compile(rf"^articles::{re.escape(host)}:\d+::rq_total::(\d+)$")
    return sum(int(m.group(1)) for line in text.splitlines() if (m := pattern.match(line)))


async def _measure(load: GatewayLoad, outcome: Outcome, phase: str) -> None:
    began = time.monotonic()
    await asyncio.sleep(WINDOW_SECONDS)
    outcome.rates.append((phase, load.rate(began, time.monotonic())))


async def _scale_out(stack: LaunchedStack, load: GatewayLoad, outcome: Outcome) -> None:
    requested = time.monotonic()
    await asyncio.to_thread(stack.scale, "articles", 3)
    deadline = requested + JOIN_LIMIT_SECONDS
    while await asyncio.to_thread(_articles_rq_total, stack, "127.0.0.3") == 0:
        if time.monotonic() > deadline:
            raise AssertionError(f"the new replica took no traffic within {JOIN_LIMIT_SECONDS} s")
        await asyncio.sleep(0.1)
    outcome.join_seconds = round(time.monotonic() - requested, 1)
    await _measure(load, outcome, "3 replicas (after scale-out)")


async def _scale_in(stack: LaunchedStack, load: GatewayLoad, outcome: Outcome) -> None:
    mark = len(stack.lines)
    await asyncio.to_thread(stack.scale, "articles", 2)
    await asyncio.to_thread(stack.wait_for, "stopped: exit code 0", 40.0, after=mark)
    await _measure(load, outcome, "2 replicas (after scale-in)")


def _holder_pids(stack: LaunchedStack) -> list[int]:
    found: list[int] = []
    for line in stack.lines:
        if HOLDER in line and line.startswith("{"):
            pid = int(json.loads(line)["pid"])
            if not found or found[-1] != pid:
                found.append(pid)
    return found


async def _watch_locks(dsn: str, outcome: Outcome, stop: asyncio.Event) -> None:
    """Sample how many sessions hold the feed consumer's advisory lock."""
    conn = await asyncpg.connect(dsn)
    # A bigint advisory key shows in pg_locks as its high and low halves, objsubid 1.
    high, low = LOCK_KEY >> 32, LOCK_KEY & 0xFFFF_FFFF
    try:
        while not stop.is_set():
            held = await conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1",
                high,
                low,
            )
            outcome.max_lock_holders = max(outcome.max_lock_holders, int(held))
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def _failover(stack: LaunchedStack, outcome: Outcome, dsn: str) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=12.0) as http:
        token = await register(http, f"leaver{os.urandom(3).hex()}")
        headers = {"authorization": f"Bearer {token}"}
        ids = []
        for n in range(3):
            body = {"title": f"leaving {n}", "content": "Gone with the account.", "published": True}
            reply = await http.post("/articles", json=body, headers=headers)
            ids.append(int(reply.json()["id"]))
        me = (await http.get("/auth/me", headers=headers)).json()
        [holder] = _holder_pids(stack)[-1:]
        killed = time.monotonic()
        os.kill(holder, signal.SIGKILL)
        assert (await http.delete("/auth/me", headers=headers)).status_code == 204
        while len(_holder_pids(stack)) < 2 or _holder_pids(stack)[-1] == holder:
            if time.monotonic() - killed > 30:
                raise AssertionError("no replica took over the account feed")
            await asyncio.sleep(0.1)
        outcome.failover_seconds = round(time.monotonic() - killed, 1)
        outcome.holders = _holder_pids(stack)
        await asyncio.sleep(3.0)  # the new holder applies the deletion
        left = [i for i in ids if (await http.get(f"/articles/{i}")).status_code != 404]
        outcome.deleted_articles_left = len(left)
    conn = await asyncpg.connect(dsn)
    try:
        outcome.deletions_recorded = int(
            await conn.fetchval(
                "SELECT count(*) FROM articles.deleted_users WHERE user_id = $1", int(me["id"])
            )
        )
    finally:
        await conn.close()


async def run(stack: LaunchedStack) -> Outcome:
    """Drive the steps against a running stack (started with scaling_env)."""
    dsn = stack.superuser_url()
    outcome = Outcome()
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=12.0) as http:
        tag = os.urandom(3).hex()
        tokens = [await register(http, f"scale{tag}w{i}") for i in range(3)]
    load = GatewayLoad(stack.gateway_url, tokens, readers=3, title=f"scale {tag}")
    load.start()
    stop = asyncio.Event()
    watcher = asyncio.create_task(_watch_locks(dsn, outcome, stop))
    try:
        await asyncio.sleep(2.0)
        scaling_began = time.monotonic()
        await _measure(load, outcome, "2 replicas (before)")
        await _scale_out(stack, load, outcome)
        await _scale_in(stack, load, outcome)
        outcome.failed_while_scaling = [
            f"{s.kind} {s.status} {s.detail}" for s in load.failures(since=scaling_began)
        ]
        await _failover(stack, outcome, dsn)
    finally:
        stop.set()
        await load.stop()
        await watcher
    outcome.lost = await load.lost()
    return outcome


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="scaling-") as folder:
        print("starting the stack (make run, 2 article replicas) ...", flush=True)
        with LaunchedStack(scaling_env(Path(folder) / "data")) as stack:
            outcome = asyncio.run(run(stack))
        print(outcome.table())
    passed = (
        not outcome.failed_while_scaling
        and not outcome.lost
        and outcome.max_lock_holders <= 1
        and outcome.deleted_articles_left == 0
        and outcome.deletions_recorded == 1
    )
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
