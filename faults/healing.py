"""Self-healing under `make run`: kill -9 a worker of each service, then each whole service
process, then the embedded PostgreSQL, while writers post through the gateway.

Passes when the stack keeps running, every fault is healed (all of Envoy's upstream hosts
healthy again, a write acknowledged) within 15 s, every acknowledged article is readable
afterwards (lost = 0), no answer is a 5xx other than 502/503/504 (a dependency away), and
each restart is in the launcher's or the service's log.

    python -m faults.healing [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devstack.launched import LaunchedStack, stack_env
from devstack.services import ARTICLES, AUTH
from faults.gateway_load import GatewayLoad, register

HEAL_LIMIT_SECONDS = 15.0


@dataclass
class Step:
    fault: str
    heal_seconds: float
    restart_logged: bool


@dataclass
class Outcome:
    steps: list[Step] = field(default_factory=list)
    acknowledged: int = 0
    lost: list[int] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)  # answers a fault must never cause
    indeterminate: int = 0  # 502/503/504 or a reset while a process was away (writes retried)
    stack_exited: int | None = None

    @property
    def passed(self) -> bool:
        healed = all(s.heal_seconds <= HEAL_LIMIT_SECONDS and s.restart_logged for s in self.steps)
        return healed and not self.lost and not self.unexpected and self.stack_exited is None

    def table(self) -> str:
        rows = [f"{'fault':<34} {'healed in s':>11}  restart logged"]
        rows += [f"{s.fault:<34} {s.heal_seconds:>11.1f}  {s.restart_logged}" for s in self.steps]
        rows.append(
            f"acknowledged {self.acknowledged}, lost {len(self.lost)}, "
            f"indeterminate answers {self.indeterminate}, "
            f"unexpected answers {len(self.unexpected)}: {'PASS' if self.passed else 'FAIL'}"
        )
        return "\n".join(rows)


def all_hosts_healthy(stack: LaunchedStack) -> bool:
    """Envoy sees every upstream host (each worker of each replica) as healthy."""
    try:
        text = httpx.get(f"{stack.admin_url}/clusters", timeout=2).text
    except httpx.HTTPError:  # Envoy itself is being restarted
        return False
    flags = [line for line in text.splitlines() if "::health_flags::" in line]
    return bool(flags) and all(line.endswith("::healthy") for line in flags)


async def heal_time(stack: LaunchedStack, load: GatewayLoad, since: float) -> float:
    """Seconds from `since` until, after the restart, two health-check rounds found every
    upstream host healthy and a write was acknowledged; over the limit if never."""
    deadline = since + HEAL_LIMIT_SECONDS + 1
    streak = 0
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        written = any(s.kind == "create" and s.status == 201 and s.at > since for s in load.samples)
        streak = streak + 1 if await asyncio.to_thread(all_hosts_healthy, stack) else 0
        if written and streak >= 2:
            return time.monotonic() - since - 0.5
    return HEAL_LIMIT_SECONDS + 1


async def _fault(
    stack: LaunchedStack, load: GatewayLoad, fault: str, pid: int, logged: str
) -> Step:
    mark = len(stack.lines)
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    try:
        await asyncio.to_thread(stack.wait_for, logged, HEAL_LIMIT_SECONDS, after=mark)
        restart_logged = True
    except AssertionError:
        restart_logged = False
    # The restarted process must be seen healthy by Envoy's checks (1 s apart here), not
    # just the hosts Envoy has not yet noticed were gone.
    await asyncio.sleep(1.0)
    healed = await heal_time(stack, load, killed)
    return Step(fault, round(healed, 1), restart_logged)


async def run(stack: LaunchedStack, *, quick: bool) -> Outcome:
    """Drive the faults against a running stack; the caller starts and stops it."""
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=12.0) as http:
        tag = os.urandom(3).hex()
        tokens = [await register(http, f"heal{tag}w{i}") for i in range(2 if quick else 4)]
    load = GatewayLoad(stack.gateway_url, tokens, readers=2, title=f"heal {tag}")
    load.start()
    outcome = Outcome()
    try:
        await asyncio.sleep(2.0 if quick else 5.0)
        for spec in (ARTICLES, AUTH):
            [supervisor] = stack.service_pids(spec.module)
            worker = stack.worker_pids(supervisor)[0]
            fault = f"{spec.name}: kill -9 one worker"
            outcome.steps.append(await _fault(stack, load, fault, worker, '"worker restarting"'))
        for spec in (ARTICLES, AUTH):
            [supervisor] = stack.service_pids(spec.module)
            fault = f"{spec.name}: kill -9 the service"
            outcome.steps.append(await _fault(stack, load, fault, supervisor, "restarted (pid"))
        postmaster = stack.postgres.pid()
        assert postmaster is not None
        outcome.steps.append(
            await _fault(stack, load, "PostgreSQL: kill -9", postmaster, "PostgreSQL restarted")
        )
    finally:
        await load.stop()
    outcome.acknowledged = len(set(load.acknowledged))
    outcome.lost = await load.lost()
    outcome.unexpected = [
        f"{s.kind} {s.status} {s.detail}"
        for s in load.failures()
        if s.status not in (0, 502, 503, 504)
    ]
    outcome.indeterminate = len(load.failures()) - len(outcome.unexpected)
    if stack.process is not None and stack.process.poll() is not None:
        outcome.stack_exited = stack.process.returncode
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m faults.healing", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer writers, shorter warm-up")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="healing-") as folder:
        stack = LaunchedStack(stack_env(Path(folder) / "data"))
        print("starting the stack (make run) ...", flush=True)
        with stack:
            outcome = asyncio.run(run(stack, quick=args.quick))
        print(outcome.table())
        for line in outcome.unexpected[:20]:
            print(f"  unexpected: {line}")
        if outcome.lost:
            print(f"  lost: {outcome.lost[:20]}")
    return 0 if outcome.passed else 1


if __name__ == "__main__":
    sys.exit(main())
