"""What every request answered, and the checks made on it afterwards.

Each attempt (one RPC or one HTTP request) is recorded with its outcome, classified as
ok, a definite failure (the server said no: nothing was written) or indeterminate (a
deadline, UNAVAILABLE, a reset: it may or may not have been applied). A logical write may
take several attempts (a retry with the same request_id is safe). Afterwards the truth is
read from the database and compared like Jepsen's set checker.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

import grpc


class Outcome(Enum):
    OK = "ok"
    FAILED = "failed"  # definite: the server refused, nothing changed
    INDETERMINATE = "indeterminate"  # may or may not have been applied


# Codes a server answers before or without writing, versus codes that leave it open.
INDETERMINATE_GRPC = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
    }
)
FORBIDDEN_GRPC = frozenset({grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL})
INDETERMINATE_HTTP = frozenset({502, 503, 504})
ALLOWED_5XX = frozenset({503, 504})

# What must never reach a client: a Python traceback or SQL text / driver names.
LEAK = re.compile(
    r"Traceback \(most recent|File \"[^\"]+\", line \d+|\bSELECT\s.+\sFROM\b|\bINSERT INTO\b"
    r"|\bUPDATE\s+\S+\s+SET\b|\bDELETE FROM\b|asyncpg|sqlalchemy|psycopg|duplicate key"
    r"|violates .* constraint|\[SQL:",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class Attempt:
    """One request on the wire."""

    kind: str  # what was asked, e.g. "create", "login"
    via: str  # "grpc" or "http"
    started: float
    ended: float
    code: str  # "OK", a gRPC code name, or "HTTP 201", "HTTP timeout", ...
    outcome: Outcome
    message: str = ""

    @property
    def latency(self) -> float:
        return self.ended - self.started


def grpc_attempt(kind: str, started: float, error: grpc.aio.AioRpcError | None) -> Attempt:
    ended = time.monotonic()
    if error is None:
        return Attempt(kind, "grpc", started, ended, "OK", Outcome.OK)
    code = error.code()
    outcome = Outcome.INDETERMINATE if code in INDETERMINATE_GRPC else Outcome.FAILED
    return Attempt(kind, "grpc", started, ended, code.name, outcome, error.details() or "")


def http_attempt(kind: str, started: float, status: int | str, body: str = "") -> Attempt:
    """`status` is the HTTP status, or a word for a transport failure ("timeout", "reset")."""
    ended = time.monotonic()
    if isinstance(status, str):
        return Attempt(kind, "http", started, ended, f"HTTP {status}", Outcome.INDETERMINATE, body)
    if status < 400:
        outcome = Outcome.OK
    elif status in INDETERMINATE_HTTP or status >= 500:
        outcome = Outcome.INDETERMINATE
    else:
        outcome = Outcome.FAILED
    return Attempt(kind, "http", started, ended, f"HTTP {status}", outcome, body)


@dataclass
class Write:
    """One logical write: every attempt carried the same key (a request_id, an email...)."""

    key: str
    attempts: list[Attempt] = field(default_factory=list)
    value: object = None  # what the acknowledging answer returned (an id, a title...)

    @property
    def outcome(self) -> Outcome:
        if any(a.outcome is Outcome.OK for a in self.attempts):
            return Outcome.OK
        if self.attempts and all(a.outcome is Outcome.FAILED for a in self.attempts):
            return Outcome.FAILED
        return Outcome.INDETERMINATE


@dataclass
class SetCheck:
    """Jepsen's set checker over writes and the rows found afterwards."""

    acknowledged: int = 0
    lost: list[str] = field(default_factory=list)  # acknowledged, missing
    unexpected: list[str] = field(default_factory=list)  # present, nobody asked (or refused)
    recovered: int = 0  # indeterminate and present
    indeterminate_absent: int = 0


def check_set(writes: Iterable[Write], found: Counter[str]) -> SetCheck:
    """`found` counts the rows per key (a key the writes never used is unexpected)."""
    result = SetCheck()
    keys: set[str] = set()
    for write in writes:
        keys.add(write.key)
        present = found.get(write.key, 0)
        if present > 1:
            result.unexpected.append(f"{write.key} x{present}")
        outcome = write.outcome
        if outcome is Outcome.OK:
            result.acknowledged += 1
            if not present:
                result.lost.append(write.key)
        elif outcome is Outcome.FAILED:
            if present:
                result.unexpected.append(f"{write.key} (refused, yet present)")
        elif present:
            result.recovered += 1
        else:
            result.indeterminate_absent += 1
    result.unexpected.extend(key for key in found if key not in keys)
    return result


class History:
    """Every attempt of one scenario, and the promises checked on each as it is added."""

    def __init__(self) -> None:
        self.attempts: list[Attempt] = []
        self.violations: list[str] = []
        self.faults: list[float] = []
        self.heals: list[float] = []

    def add(self, attempt: Attempt) -> Attempt:
        self.attempts.append(attempt)
        if attempt.via == "grpc" and attempt.code in {c.name for c in FORBIDDEN_GRPC}:
            self._violate(f"{attempt.kind}: gRPC {attempt.code} ({attempt.message[:120]})")
        if attempt.via == "http" and attempt.code.startswith("HTTP 5"):
            status = int(attempt.code.split()[1])
            if status not in ALLOWED_5XX:
                self._violate(f"{attempt.kind}: {attempt.code} ({attempt.message[:120]})")
        if LEAK.search(attempt.message):
            self._violate(f"{attempt.kind}: leaked internals: {attempt.message[:200]!r}")
        return attempt

    def _violate(self, text: str) -> None:
        if text not in self.violations and len(self.violations) < 50:
            self.violations.append(text)

    def violate(self, text: str) -> None:
        self._violate(text)

    def mark_fault(self) -> None:
        self.faults.append(time.monotonic())

    def mark_healed(self) -> None:
        self.heals.append(time.monotonic())

    def codes(self) -> Counter[str]:
        return Counter(a.code for a in self.attempts if a.outcome is not Outcome.OK)

    def recovery_seconds(self, kinds: Iterable[str]) -> float | None:
        """The longest time from a heal to the first acknowledged attempt of `kinds` that
        started after it (None when nothing was healed); inf if one never recovered."""
        wanted = set(kinds)
        worst: float | None = None
        for healed in self.heals:
            oks = [
                a.ended
                for a in self.attempts
                if a.outcome is Outcome.OK and a.started >= healed and a.kind in wanted
            ]
            took = min(oks) - healed if oks else float("inf")
            worst = took if worst is None else max(worst, took)
        return worst
