"""The results table (markdown), its JSON twin and, when matplotlib is there, a chart."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from bench.tools import Measured, median


@dataclass
class Row:
    name: str
    group: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    rounds: int
    vs_peer: float | None
    peer: str | None
    share_of_ceiling: float | None
    ceiling: str | None
    notes: list[str]


def summarize(
    targets: list[tuple[str, str, str | None, str | None]], runs: dict[str, list[Measured]]
) -> list[Row]:
    base: dict[str, Row] = {}
    for name, group, peer, ceiling in targets:
        results = runs[name]
        notes = sorted({note for r in results for note in r.notes})
        base[name] = Row(
            name=name,
            group=group,
            rps=median([r.rps for r in results]),
            p50_ms=median([r.p50_ms for r in results]),
            p99_ms=median([r.p99_ms for r in results]),
            errors=sum(r.errors for r in results),
            rounds=len(results),
            vs_peer=None,
            peer=peer,
            share_of_ceiling=None,
            ceiling=ceiling,
            notes=notes,
        )
    for row in base.values():
        if row.peer and base[row.peer].rps > 0:
            row.vs_peer = row.rps / base[row.peer].rps
        if row.ceiling and base[row.ceiling].rps > 0:
            row.share_of_ceiling = row.rps / base[row.ceiling].rps
    return list(base.values())


def _num(value: float | None, fmt: str) -> str:
    if value is None or math.isnan(value):
        return "-"
    return format(value, fmt)


def markdown(rows: list[Row], settings: dict[str, object]) -> str:
    lines = [
        "| target | req/s | p50 ms | p99 ms | errors | vs peer | share of ceiling |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        share = "-"
        if row.share_of_ceiling is not None and row.ceiling:
            share = f"{row.share_of_ceiling:.0%} of {row.ceiling.removeprefix('ceiling: ')}"
        lines.append(
            f"| {row.name} | {_num(row.rps, ',.0f')} | {_num(row.p50_ms, '.2f')} | "
            f"{_num(row.p99_ms, '.2f')} | {row.errors} | "
            f"{_num(row.vs_peer, '.2f') + 'x' if row.vs_peer else '-'} | {share} |"
        )
    described = ", ".join(f"{k}={v}" for k, v in settings.items() if v is not None)
    notes = sorted({f"{row.name}: {note}" for row in rows for note in row.notes})
    out = ["## Benchmark", "", f"Settings: {described}.", "", *lines, ""]
    out += [
        "Medians over the rounds. gRPC rows: h2load over h2c straight to the service "
        "(gRPC status checked in the services' call log); REST rows: h2load --h1 through "
        "Envoy; peer: FastAPI + uvicorn, same worker count, same PostgreSQL. "
        "h2load runs on the same cores, so numbers are relative.",
    ]
    out += [f"- {note}" for note in notes]
    return "\n".join(out) + "\n"


def chart(rows: list[Row], path: Path) -> bool:
    try:
        import matplotlib  # type: ignore[import-not-found,unused-ignore]

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return False
    figure, axes = plt.subplots(figsize=(10, 6))
    names = [row.name for row in rows]
    axes.barh(names, [row.rps for row in rows])
    axes.invert_yaxis()
    axes.set_xlabel("requests per second (median)")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return True
