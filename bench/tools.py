"""The load generators: h2load (nghttp2-client) and pgbench, found or installed, and parsed."""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_HINT = (
    "h2load is missing: install it with `apt-get install -y nghttp2-client` "
    "(Debian/Ubuntu; the bench does this itself when it runs as root)"
)


def ensure_h2load() -> str:
    """Path of h2load; installed with apt-get when missing and running as root, else an error."""
    found = shutil.which("h2load")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "nghttp2-client"], check=False, env=env)
        found = shutil.which("h2load")
        if found:
            return found
    raise SystemExit(INSTALL_HINT)


@dataclass
class Load:
    """How hard and how long to drive one target."""

    connections: int
    streams: int  # concurrent streams per HTTP/2 connection (1 for HTTP/1.1)
    duration: float | None  # seconds of measurement; None means `requests` in total
    requests: int
    warmup: float


@dataclass
class Measured:
    rps: float
    p50_ms: float
    p99_ms: float
    done: int
    errors: int
    notes: list[str] = field(default_factory=list)
    # CPU milliseconds per request of each part (articles, envoy, postgres, ...)
    cpu_ms: dict[str, float] = field(default_factory=dict)
    # Each request's latency in ms (h2load's log), kept to merge side-by-side runs.
    durations: list[float] = field(default_factory=list, repr=False)


_FINISHED = re.compile(r"finished in [\d.]+\w+, ([\d.]+) req/s")
_REQUESTS = re.compile(
    r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
    r"(\d+) errored, (\d+) timeout"
)
_CODES = re.compile(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def h2load(
    binary: str,
    addresses: list[list[str]],
    load: Load,
    workdir: Path,
    *,
    body: Path | None = None,
    headers: dict[str, str] | None = None,
    http1: bool = False,
    rate: int | None = None,
    tag: str = "requests",
) -> Measured:
    """Run h2load; throughput from its summary, latency percentiles from its log.

    `addresses` holds, for each address, the URLs asked for there in turn. With several
    addresses, one h2load per address runs at the same time with an equal share of the
    connections and requests: what a balancer in front of per-worker ports does. `rate`
    holds the whole run to that many requests a second; `tag` names its request logs (runs
    side by side need their own).
    """
    share = len(addresses)
    connections = max(1, load.connections // share)
    requests = max(1, load.requests // share)
    runs = []
    for index, urls in enumerate(addresses):
        log = workdir / f"h2load-{tag}-{index}.log"
        log.unlink(missing_ok=True)
        argv = [binary, "-t", "1", "-c", str(connections), f"--log-file={log}"]
        if load.duration is not None:
            argv += ["-D", f"{load.duration:g}", f"--warm-up-time={load.warmup:g}"]
        else:
            argv += ["-n", str(requests)]
        argv += ["-m", "1", "--h1"] if http1 else ["-m", str(load.streams)]
        if rate is not None:  # h2load's --rps is per connection
            argv.append(f"--rps={max(1, rate // (share * connections))}")
        if body is not None:
            argv += ["-d", str(body)]
        for name, value in (headers or {}).items():
            argv += ["-H", f"{name}: {value}"]
        argv += urls
        process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        runs.append((argv, log, process))
    parts = []
    for argv, log, process in runs:
        out, _ = process.communicate(timeout=600)
        parts.append(_parse(argv, process.returncode, out, log))
    return _combine(parts)


def _parse(argv: list[str], returncode: int, out: str, log: Path) -> Measured:
    finished = _FINISHED.search(out)
    requests = _REQUESTS.search(out)
    codes = _CODES.search(out)
    if returncode != 0 or not (finished and requests and codes):
        raise RuntimeError(f"h2load failed ({returncode}): {' '.join(argv)}\n{out[-2000:]}")
    failed = sum(int(requests.group(i)) for i in (5, 6, 7))
    not_2xx = sum(int(codes.group(i)) for i in (2, 3, 4))
    durations: list[float] = []
    if log.exists():
        for line in log.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) >= 3:
                durations.append(int(parts[2]) / 1000.0)  # microseconds -> ms
    notes = []
    if failed or not_2xx:
        notes.append(
            f"h2load saw {failed} failed/errored/timed-out requests and {not_2xx} "
            f"non-2xx answers ({codes.group(0)})"
        )
    return Measured(
        rps=float(finished.group(1)),
        p50_ms=0.0,  # set by _combine, over every part's durations
        p99_ms=0.0,
        done=int(requests.group(3)),
        errors=failed + not_2xx,
        notes=notes,
        durations=durations,
    )


def _combine(parts: list[Measured]) -> Measured:
    """Runs side by side: their throughputs add up, their latencies are one population."""
    durations = [d for part in parts for d in part.durations]
    return Measured(
        rps=sum(part.rps for part in parts),
        p50_ms=percentile(durations, 0.50),
        p99_ms=percentile(durations, 0.99),
        done=sum(part.done for part in parts),
        errors=sum(part.errors for part in parts),
        notes=[note for part in parts for note in part.notes],
    )


_TPS = re.compile(r"tps = ([\d.]+) \(without initial connection time\)")
_LATENCY = re.compile(r"latency average = ([\d.]+) ms")
_FAILED = re.compile(r"number of failed transactions: (\d+)")


def pgbench(binary: Path, url: str, script: Path, load: Load, clients: int) -> Measured:
    """pgbench with a custom script; pgbench reports the mean latency, used for p50."""
    argv = [str(binary), "-n", "-M", "prepared", "-f", str(script), "-c", str(clients), "-j", "2"]
    if load.duration is not None:
        argv += ["-T", str(max(1, round(load.duration)))]
    else:
        argv += ["-t", str(max(1, load.requests // clients))]
    argv.append(url)
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)
    out = result.stdout + result.stderr
    tps = _TPS.search(out)
    latency = _LATENCY.search(out)
    if result.returncode != 0 or not tps:
        raise RuntimeError(f"pgbench failed ({result.returncode}):\n{out[-2000:]}")
    failed = _FAILED.search(out)
    mean = float(latency.group(1)) if latency else 0.0
    return Measured(
        rps=float(tps.group(1)),
        p50_ms=mean,
        p99_ms=float("nan"),
        done=0,
        errors=int(failed.group(1)) if failed else 0,
        notes=["pgbench gives the mean latency (shown as p50); no p99"],
    )


def median(values: list[float]) -> float:
    clean = [v for v in values if v == v]  # drop NaN
    return statistics.median(clean) if clean else float("nan")
