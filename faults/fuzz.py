"""Fuzz the public API with schemathesis, through the gateway, against its own /openapi.json.

    python -m faults.fuzz --deep              start a stack of its own, run the deep fuzz
    python -m faults.fuzz --url URL [--smoke] fuzz a gateway that is already running

Every check schemathesis has (`-c all`: server errors, status codes, content types,
headers and bodies against the document, negative data rejected, positive data accepted,
undeclared methods, auth actually checked, deleted resources gone) over all four phases:
the document's examples, its coverage of boundaries, random fuzzing, and stateful chains
along the OpenAPI links (register -> login, create -> get/update/delete, list -> next page).
Passing means 0 failures of any kind; the process exits 1 otherwise.

Requests carry a real bearer token: a user this run registers and logs in. DELETE /auth/me
gets a fresh user of its own for every call, so the shared user survives the run.

What a JSON Schema cannot say, the hooks below make true of the input schemathesis calls
valid ("positive"), so that a 400 to it is a real finding: a page token must be one the
service issued, a registration's request_id may not be reused for another account, and a
password is at most 72 bytes in UTF-8 (the document says maxLength 72 characters); and
every other positive login names the run's real account, so successful logins are
checked too. Negative input is left alone. Two decisions, explained where they are made:
Envoy's lenient booleans ("published": "yes") are not findings, and QUERY (which Envoy
refuses without a body before any filter runs) is not among the undeclared methods tried.
The --smoke run (inside `make test`) has a fixed seed; a --deep run prints its seed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from article_service.page_tokens import decode_page_token, encode_page_token, filters_fingerprint
from devstack.launched import launched, stop_on_sigterm

PASSWORD = "fuzzing horse battery"  # noqa: S105 - the throwaway users' password
DELETE_ME = "DELETE /auth/me"
# The soak's and the deep run's gateway: far above what the fuzzer sends, so the login
# route's rate limit (tested elsewhere) never answers for the fuzzer.
LOGIN_RATE_PER_MINUTE = 100_000


@dataclass(frozen=True)
class Budget:
    """How hard to fuzz: examples per operation per phase, and a time cap."""

    max_examples: int
    max_time_seconds: int
    workers: int
    seed: int | None = None

    def arguments(self) -> list[str]:
        args = [
            "--max-examples",
            str(self.max_examples),
            "--max-time",
            str(self.max_time_seconds),
            "--workers",
            str(self.workers),
        ]
        if self.seed is not None:
            args += ["--seed", str(self.seed)]
        return args


# Every method schemathesis tries on a path that does not declare it but QUERY: Envoy
# refuses a QUERY without a body with 400 before any filter runs (the method is defined
# as carrying its query in the body); with one, it answers 405 like any other.
# A request refused for its size (413 body, 431 URL and headers) is refused, too.
# Schemathesis keeps its crash cache (for `st replay`) with the reports, not in the tree.
CONFIG = """
[cache]
directory = "{cache}"

[phases.coverage]
unexpected-methods = ["get", "put", "post", "delete", "options", "patch", "trace"]

[checks.negative_data_rejection]
expected-statuses = [
    "400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "431",
    "5xx",
]
"""

# One worker: hypothesis parses lambdas' source with ast.parse, which CPython 3.11 cannot
# run in two threads at once ("AST constructor recursion depth mismatch").
# --max-time is a budget: fuzzing and stateful chains repeat until it is spent.
SMOKE = Budget(max_examples=5, max_time_seconds=20, workers=1, seed=20261125)
DEEP = Budget(max_examples=300, max_time_seconds=600, workers=1)


# --- the hooks (registered only in the process that runs schemathesis) ---------------


class Users:
    """Registers and logs in throwaway users on the gateway under test."""

    def __init__(self, base_url: str) -> None:
        self._client = httpx.Client(base_url=base_url, timeout=30)
        self._lock = threading.Lock()
        self._shared: str | None = None
        self.shared_name = ""
        self.logins = 0

    def fresh_token(self, name: str = "") -> str:
        name = name or f"fz_{uuid.uuid4().hex[:16]}"
        reply = self._client.post(
            "/auth/register",
            json={"email": f"{name}@example.com", "username": name, "password": PASSWORD},
        )
        reply.raise_for_status()
        login = self._client.post("/auth/login", data={"username": name, "password": PASSWORD})
        login.raise_for_status()
        return str(login.json()["access_token"])

    def shared_token(self) -> str:
        with self._lock:
            if self._shared is None:
                self.shared_name = f"fz_{uuid.uuid4().hex[:16]}"
                self._shared = self.fresh_token(self.shared_name)
            return self._shared


def _is_positive(case: Any) -> bool:
    meta = getattr(case, "meta", None)
    return meta is not None and bool(meta.generation.mode.is_positive)


def make_positive_input_valid(case: Any, users: Users) -> None:
    """Turn what a JSON Schema cannot rule out of positive input into valid input."""
    if not _is_positive(case):
        return
    label = case.operation.label
    query, body = case.query, case.body
    if label == "POST /auth/login" and isinstance(body, dict) and "password" in body:
        # Every other positive login names a real account, so successes are checked too.
        users.logins += 1
        if users.logins % 2 == 0:
            users.shared_token()
            body.update(username=users.shared_name, password=PASSWORD)
    if label == "GET /articles" and isinstance(query, dict):
        make_listing_query_valid(query)
    if label == "POST /auth/register" and isinstance(body, dict):
        if isinstance(body.get("request_id"), str):
            body["request_id"] = str(uuid.uuid4())  # one registration per request_id
        password = body.get("password")
        if isinstance(password, str) and len(password.encode()) > 72:
            body["password"] = password.encode()[:72].decode(errors="ignore").ljust(8, "x")


def make_listing_query_valid(query: dict[str, Any]) -> None:
    """A listing's positive query as the service accepts it: `author` or `author_id`, not
    both (which a schema cannot say), and a page token of the query's own filters."""
    if query.get("author") and query.get("author_id") is not None:
        del query["author_id"]
    token = query.get("page_token")
    if not isinstance(token, str) or not token:
        return
    author_id = query.get("author_id")
    filters = filters_fingerprint(
        None if author_id is None else int(author_id),
        str(query.get("author") or ""),
        str(query.get("drafts")).lower() == "true",
        str(query.get("q") or ""),
    )
    position = decode_page_token(token)
    if position is None or position.filters != filters:
        # Any position is a valid token; the service issues them, so make one.
        when = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=len(token))
        query["page_token"] = encode_page_token(when, 1 + len(token), filters)


def register_hooks(users: Users) -> None:
    import schemathesis

    @schemathesis.auth(refresh_interval=None, retry_on=[]).skip_for(
        operation_id=["Register", "LoginWithForm"]
    )
    class BearerToken:
        def get(self, case: Any, ctx: Any) -> str:
            if case.operation.label == DELETE_ME:
                return users.fresh_token()  # deleting the account ends the user
            return users.shared_token()

        def set(self, case: Any, data: str, ctx: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    @schemathesis.hook
    def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
        make_positive_input_valid(case, users)

    @schemathesis.hook
    def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
        return not is_lenient_boolean(failure, case)


# Envoy's JSON parser reads these strings (any case) as booleans (a body's `published`, the
# listing's `drafts`), and has no option to refuse them; the document promises booleans
# only, so a client that sends one of these is served, and that is not counted as a
# finding. Any other string is a 400.
LENIENT_BOOLEANS = {"true", "false", "yes", "no", "t", "f", "y", "n", "1", "0"}


def is_lenient_boolean(failure: Any, case: Any) -> bool:
    """Whether `failure` is negative data accepted only for a boolean sent as such a string."""
    if type(failure).__name__ != "AcceptedNegativeData":
        return False
    fields = {**(case.body if isinstance(case.body, dict) else {}), **(case.query or {})}
    flags = [v for k, v in fields.items() if k in ("published", "drafts")]
    return any(isinstance(v, str) and v.lower() in LENIENT_BOOLEANS for v in flags)


# --- running it ----------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    test_cases: int
    failures: list[dict[str, Any]]
    errors: list[Any]
    running_time: float
    report: dict[str, Any]

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and not self.failures and not self.errors

    def summary(self) -> str:
        lines = [
            f"schemathesis: {self.test_cases} test cases in {self.running_time:.1f} s, "
            f"{sum(f.get('count', 1) for f in self.failures)} failures, "
            f"{len(self.errors)} errors, exit code {self.exit_code}"
        ]
        lines += [
            f"  {f['code']} {f['title']}: {f.get('count', 1)} ({', '.join(f['operations'])})"
            for f in self.failures
        ]
        return "\n".join(lines)


def fuzz(base_url: str, budget: Budget, report_dir: Path) -> Outcome:
    """Run schemathesis against the gateway at `base_url`, in this process."""
    from schemathesis.cli import schemathesis as cli

    users = Users(base_url)
    register_hooks(users)
    report_path = report_dir / "schemathesis.json"
    config = report_dir / "schemathesis.toml"
    config.write_text(CONFIG.replace("{cache}", str(report_dir / "cache")))
    args = [
        "--config-file",
        str(config),
        "--no-color",
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--report",
        "json,junit",
        "--report-dir",
        str(report_dir),
        "--report-json-path",
        str(report_path),
        "--request-timeout",
        "20",
        "--wait-for-schema",
        "30",
        "--generation-database",
        "none",
        *budget.arguments(),
    ]
    try:
        cli.main(args=args, prog_name="schemathesis", standalone_mode=False)
        exit_code = 0
    except SystemExit as exc:  # click raises it with the run's exit code
        exit_code = int(exc.code or 0)
    report: dict[str, Any] = json.loads(report_path.read_text()) if report_path.exists() else {}
    return Outcome(
        exit_code=exit_code if report else 2,
        test_cases=int(report.get("test_cases", {}).get("generated", 0)),
        failures=list(report.get("failures", [])),
        errors=list(report.get("errors", [])),
        running_time=float(report.get("running_time", 0.0)),
        report=report,
    )


def deep(budget: Budget, keep: Path | None) -> Outcome:
    """Start a stack of its own (free ports, temporary data dir), fuzz it, stop it."""
    stop_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        workdir = keep or Path(tmp)
        rate = str(LOGIN_RATE_PER_MINUTE)
        with launched(workdir, workers=2, GATEWAY_LOGIN_RATE_PER_MINUTE=rate) as stack:
            report_dir = workdir / "fuzz"
            report_dir.mkdir(exist_ok=True)
            outcome = fuzz(stack.gateway_url, budget, report_dir)
        if keep is not None:
            print(f"reports and the stack's logs: {keep}", flush=True)
        return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m faults.fuzz", description=__doc__)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--deep", action="store_true", help="start a stack and fuzz it hard")
    where.add_argument("--url", help="fuzz the gateway at this URL (already running)")
    parser.add_argument("--smoke", action="store_true", help="a quick run (make test)")
    parser.add_argument("--max-examples", type=int, help="examples per operation and phase")
    parser.add_argument("--max-time", type=int, help="seconds at most")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--keep", type=Path, help="keep the stack's files and reports here")
    args = parser.parse_args(argv)
    budget = SMOKE if args.smoke else DEEP
    budget = Budget(
        max_examples=args.max_examples or budget.max_examples,
        max_time_seconds=args.max_time or budget.max_time_seconds,
        workers=budget.workers,
        seed=args.seed if args.seed is not None else budget.seed,
    )
    if args.deep:
        outcome = deep(budget, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
            report_dir = args.keep or Path(tmp)
            report_dir.mkdir(parents=True, exist_ok=True)
            outcome = fuzz(args.url.rstrip("/"), budget, report_dir)
    print(outcome.summary(), flush=True)
    return 0 if outcome.passed else 1


if __name__ == "__main__":
    sys.exit(main())
