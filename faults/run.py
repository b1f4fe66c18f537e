"""Start the stack once, run the chosen scenarios one after the other (each with a time
limit, the stack made healthy between them), stop everything, report."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from faults import clients as cl
from faults import report
from faults.cluster import Cluster
from faults.context import Ctx, Result
from faults.history import History
from faults.scenarios import SCENARIOS
from faults.truth import Truth

LOGS = ("auth.log", "articles.log", "gateway.log", "postgres/postgres.log")


@dataclass
class SuiteOutcome:
    results: list[Result]
    settings: str
    full: bool
    seconds: float
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems and all(r.passed for r in self.results)

    def exit_code(self, *, save: bool) -> int:
        print()
        print(report.text_table(self.results))
        print()
        for r in self.results:
            for note in r.notes:
                print(f"  {r.name}: {note}")
        for r in self.results:
            for violation in r.violations:
                print(f"  {r.name}: VIOLATION {violation}")
        for problem in self.problems:
            print(f"  suite: {problem}")
        print(f"\n{'PASS' if self.passed else 'FAIL'} in {self.seconds:.0f} s")
        if save:
            path = report.save(self.results, self.settings, full=self.full)
            print(f"results: {path}")
        return 0 if self.passed else 1


def run(names: list[str], *, quick: bool, workers: int = 2) -> SuiteOutcome:
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="faults-"))
    cluster = Cluster(workdir, workers)
    results: list[Result] = []
    problems: list[str] = []
    try:
        print(f"starting PostgreSQL, auth, articles ({workers} workers each) and Envoy ...")
        cluster.start()
        print(f"stack up in {time.monotonic() - started:.1f} s", flush=True)
        results = asyncio.run(_run_all(cluster, names, quick, problems))
    except Exception as exc:  # noqa: BLE001 - reported, and the suite fails
        problems.append(f"{type(exc).__name__}: {exc}")
        traceback.print_exc()
    finally:
        cluster.close()
        _keep_logs(workdir)
        shutil.rmtree(workdir, ignore_errors=True)
    mode = "quick" if quick else "full"
    settings = (
        f"mode={mode}, scenarios={len(names)}, workers={workers}, cpus={os.cpu_count()}, "
        f"total_s={time.monotonic() - started:.0f}"
    )
    full = not quick and set(names) == set(SCENARIOS)
    return SuiteOutcome(results, settings, full, time.monotonic() - started, problems)


async def _run_all(
    cluster: Cluster, names: list[str], quick: bool, problems: list[str]
) -> list[Result]:
    assert cluster.auth is not None
    assert cluster.articles is not None
    assert cluster.db is not None
    clients = cl.Clients(
        [cluster.auth.target, *cluster.auth.worker_targets],
        [cluster.articles.target, *cluster.articles.worker_targets],
        None if cluster.gateway is None else cluster.gateway.url,
    )
    tag = secrets.token_hex(2)
    try:
        writers = await cl.register_users(clients, History(), f"w{tag}x", 2 if quick else 4)
        ctx = Ctx(cluster, clients, Truth(cluster.db.superuser_url()), quick, tag, writers)
        results = []
        limit = 120.0 if quick else 240.0
        for name in names:
            began = time.monotonic()
            print(f"- {name} ...", end=" ", flush=True)
            try:
                result = await asyncio.wait_for(SCENARIOS[name](ctx), limit)
            except Exception as exc:  # noqa: BLE001 - one scenario's crash fails that scenario
                result = Result(name, seconds=round(time.monotonic() - began, 1))
                result.violations.append(f"scenario failed: {type(exc).__name__}: {exc}")
                traceback.print_exc()
            print(
                f"{'PASS' if result.passed else 'FAIL'} ({time.monotonic() - began:.1f} s)",
                flush=True,
            )
            results.append(result)
            try:
                await asyncio.to_thread(cluster.ensure_healthy, 60.0)
            except Exception as exc:  # noqa: BLE001 - the rest cannot run on a broken stack
                problems.append(f"stack not healthy after {name}: {exc}")
                break
        return results
    finally:
        await clients.close()


def _keep_logs(workdir: Path) -> None:
    """The processes' logs of the last run, for a look after a failure."""
    target = report.RESULTS_DIR / "logs-latest"
    with contextlib.suppress(OSError):
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for name in LOGS:
            source = workdir / name
            if source.exists():
                shutil.copyfile(source, target / Path(name).name)
    print(f"process logs: {target}", file=sys.stderr)
