"""What a scenario is given (`Ctx`: the stack, clients, the database's truth) and what it
returns (`Result`: one row of the table), with the judging every scenario shares: the set
check's totals and the time to recover after a fault healed."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from faults import clients as cl
from faults.cluster import Cluster, Service
from faults.history import History, Outcome, SetCheck
from faults.truth import Truth

# After a fault heals, an acknowledged request within this.
RECOVERY_BOUND_SECONDS = 20.0
RNG = random.Random()  # noqa: S311 - when to hurt what, not a secret


@dataclass
class Result:
    name: str
    requests: int = 0
    acknowledged: int = 0
    lost: int = 0
    unexpected: int = 0
    recovered: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    recovery_s: float | None = None
    seconds: float = 0.0
    violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.lost == 0 and self.unexpected == 0 and not self.violations


@dataclass
class Ctx:
    cluster: Cluster
    clients: cl.Clients
    truth: Truth
    quick: bool
    tag: str
    writers: list[cl.User]  # shared, warmed-up users for article writes

    @property
    def auth(self) -> Service:
        assert self.cluster.auth is not None
        return self.cluster.auth

    @property
    def articles(self) -> Service:
        assert self.cluster.articles is not None
        return self.cluster.articles

    def prefix(self, scenario: str) -> str:
        return f"fault {self.tag} {scenario} "

    def domain(self, scenario: str) -> str:
        return f"@{scenario}.{self.tag}.faults.example"

    def t(self, quick: float, full: float) -> float:
        return quick if self.quick else full


def result_of(name: str, history: History, started: float, *checks: SetCheck) -> Result:
    """The row of a scenario: its requests, the codes seen, the set checks' totals."""
    measured = [a for a in history.attempts if not a.kind.startswith("setup-")]
    result = Result(
        name,
        requests=len(measured),
        codes=Counter(a.code for a in measured if a.outcome is not Outcome.OK),
        violations=list(history.violations),
    )
    for check in checks:
        result.acknowledged += check.acknowledged
        result.lost += len(check.lost)
        result.unexpected += len(check.unexpected)
        result.recovered += check.recovered
        if check.lost:
            result.violations.append(f"lost: {', '.join(check.lost[:5])}")
        if check.unexpected:
            result.violations.append(f"unexpected: {', '.join(check.unexpected[:5])}")
    result.seconds = round(time.monotonic() - started, 1)
    return result


def check_recovery(result: Result, history: History, kinds: list[str]) -> None:
    """Record the worst time from a heal to an acknowledged request of `kinds`; a violation
    above RECOVERY_BOUND_SECONDS or when one never came."""
    took = history.recovery_seconds(kinds)
    if took is None:
        return
    if took == float("inf"):
        result.violations.append("no acknowledged request after the fault healed")
        return
    result.recovery_s = round(took, 2)
    if took > RECOVERY_BOUND_SECONDS:
        result.violations.append(f"recovery took {took:.1f} s (> {RECOVERY_BOUND_SECONDS:.0f} s)")


async def sleep_until(when: float) -> None:
    await asyncio.sleep(max(0.0, when - time.monotonic()))


async def in_thread(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A blocking call (a process to kill or start, a probe) off the event loop."""
    return await asyncio.to_thread(function, *args, **kwargs)
