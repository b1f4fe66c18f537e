"""The results table (markdown), its JSON twin and a chart (matplotlib, Agg)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.tools import Measured, median

# p50 at the large scale may be at most this many times the p50 at the small one.
SCALE_TARGET = 1.5
GROUP_COLOURS = {
    "ours gRPC": "#1f77b4",
    "ours REST": "#2ca02c",
    "peer": "#d62728",
    "ceiling": "#7f7f7f",
}


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
    base: str | None = None  # the same target at the small scale
    p50_vs_base: float | None = None
    cpu_ms: dict[str, float] = field(default_factory=dict)  # per request, by part (median)


def summarize(
    targets: list[tuple[str, str, str | None, str | None, str | None]],
    runs: dict[str, list[Measured]],
) -> list[Row]:
    base: dict[str, Row] = {}
    for name, group, peer, ceiling, smaller in targets:
        results = runs.get(name, [])
        if not results:
            continue
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
            base=smaller,
            cpu_ms={
                part: round(median([r.cpu_ms.get(part, 0.0) for r in results]), 3)
                for part in sorted({part for r in results for part in r.cpu_ms})
            },
        )
    for row in base.values():
        if row.peer in base and base[row.peer].rps > 0:
            row.vs_peer = row.rps / base[row.peer].rps
        if row.ceiling in base and base[row.ceiling].rps > 0:
            row.share_of_ceiling = row.rps / base[row.ceiling].rps
        if row.base in base and base[row.base].p50_ms > 0:
            row.p50_vs_base = row.p50_ms / base[row.base].p50_ms
    return list(base.values())


@dataclass(frozen=True)
class Goal:
    """One target of the benchmark issue: `row` against its peer or its ceiling."""

    text: str
    row: str
    against: str  # "peer" or "ceiling"
    at_least: float


# The issue's throughput targets (ratios within one run); the p50 scale target is above.
GOALS = (
    Goal("gRPC GetArticle >= 3x the peer's GET", "gRPC GetArticle", "peer", 3.0),
    Goal("gRPC CreateArticle >= 3x the peer's POST", "gRPC CreateArticle", "peer", 3.0),
    Goal("gRPC GetArticle >= 50% of the trivial handler", "gRPC GetArticle", "ceiling", 0.5),
    Goal("REST GET >= 1.3x the peer's", "REST GET /articles/{id}", "peer", 1.3),
    Goal("REST list >= 1.3x the peer's", "REST GET /articles/?limit=20", "peer", 1.3),
    Goal("REST GET >= 85% of the gateway ceiling", "REST GET /articles/{id}", "ceiling", 0.85),
    Goal(
        "REST list >= 85% of the gateway ceiling",
        "REST GET /articles/?limit=20",
        "ceiling",
        0.85,
    ),
)


def _goal_lines(rows: list[Row]) -> list[str]:
    by_name = {row.name: row for row in rows}
    lines = ["", "Targets:", "", "| target | measured | verdict |", "| --- | ---: | --- |"]
    shown = 0
    for goal in GOALS:
        row = by_name.get(goal.row)
        value = None
        if row is not None:
            value = row.vs_peer if goal.against == "peer" else row.share_of_ceiling
        if value is None:
            continue  # not measured in this run (--only)
        measured = f"{value:.2f}x" if goal.against == "peer" else f"{value:.0%}"
        verdict = "met" if value >= goal.at_least else "missed"
        lines.append(f"| {goal.text} | {measured} | {verdict} |")
        shown += 1
    return lines if shown else []


def _count(value: float) -> str:
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if value >= size and value % size == 0:
            return f"{value // size:.0f}{suffix}"
    return f"{value:.0f}"


def _rate(value: float) -> str:
    """Requests per second: whole numbers, one decimal below 10 (a deep skip's 0.4)."""
    return _num(value, ".1f" if value < 10 else ",.0f")


def _num(value: float | None, fmt: str) -> str:
    if value is None or math.isnan(value):
        return "-"
    return format(value, fmt)


def _scale_lines(rows: list[Row]) -> list[str]:
    paired = [row for row in rows if row.p50_vs_base is not None]
    if not paired:
        return []
    by_name = {row.name: row for row in rows}
    lines = [
        "",
        f"Scale: p50 with more articles vs the same target with fewer "
        f"(target: at most {SCALE_TARGET}x for ours).",
        "",
        "| target | p50 ms small | p50 ms large | ratio | req/s small | req/s large |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in paired:
        small = by_name[row.base or ""]
        verdict = ""
        if row.group != "peer" and row.p50_vs_base is not None:
            verdict = " (met)" if row.p50_vs_base <= SCALE_TARGET else " (missed)"
        lines.append(
            f"| {row.name} | {_num(small.p50_ms, '.2f')} | {_num(row.p50_ms, '.2f')} | "
            f"{_num(row.p50_vs_base, '.2f')}x{verdict} | {_rate(small.rps)} | "
            f"{_rate(row.rps)} |"
        )
    skip = next((r for r in rows if "ListArticles skip=" in r.name), None)
    token = next((r for r in rows if "ListArticles page_token at" in r.name), None)
    if skip and token and skip.rps > 0 and token.p50_ms > 0:
        lines += [
            "",
            f"Deep paging: the page token answers {token.rps / skip.rps:,.1f}x the requests "
            f"of skip at the same depth, p50 {token.p50_ms:.2f} ms vs {skip.p50_ms:.2f} ms.",
        ]
    return lines


CPU_PARTS = ("articles", "auth", "envoy", "postgres", "peer", "trivial", "envoy (trivial)")


def _cpu_lines(rows: list[Row]) -> list[str]:
    """CPU milliseconds per request by part: what each request costs, which other work on
    the machine disturbs far less than throughput."""
    measured = [
        row
        for row in rows
        if row.cpu_ms and (row.group != "ceiling" or row.name.startswith("ceiling: trivial"))
    ]
    parts = [part for part in CPU_PARTS if any(part in row.cpu_ms for row in measured)]
    if not measured or not parts:
        return []
    lines = [
        "",
        "CPU milliseconds per request, by process group (from /proc; median over the rounds; "
        "h2load's own CPU is not counted):",
        "",
        "| target | " + " | ".join(parts) + " | total |",
        "| --- | " + " | ".join("---:" for _ in parts) + " | ---: |",
    ]
    for row in measured:
        cells = [_num(row.cpu_ms.get(part), ".3f") for part in parts]
        total = sum(row.cpu_ms.get(part, 0.0) for part in parts)
        lines.append(f"| {row.name} | " + " | ".join(cells) + f" | {total:.3f} |")
    return lines


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
            f"| {row.name} | {_rate(row.rps)} | {_num(row.p50_ms, '.2f')} | "
            f"{_num(row.p99_ms, '.2f')} | {row.errors} | "
            f"{_num(row.vs_peer, '.2f') + 'x' if row.vs_peer else '-'} | {share} |"
        )
    described = ", ".join(f"{k}={v}" for k, v in settings.items() if v is not None)
    notes = sorted({f"{row.name}: {note}" for row in rows for note in row.notes})
    out = ["## Benchmark", "", f"Settings: {described}.", "", *lines, *_goal_lines(rows)]
    out += _scale_lines(rows)
    out += [*_cpu_lines(rows), ""]
    out += [
        "Medians over the rounds. gRPC rows: h2load over h2c straight to the service "
        "(gRPC status checked in the services' call log); REST rows: h2load --h1 through "
        "Envoy; peer: FastAPI + uvicorn, same worker count, same PostgreSQL. Rows marked @N "
        "ran after topping both tables up to N articles (COPY), the others with the "
        "`articles` setting; articles the create rows add are deleted after each of them. "
        "h2load runs on the same cores, so numbers are relative.",
    ]
    out += [f"- {note}" for note in notes]
    return "\n".join(out) + "\n"


def chart(rows: list[Row], path: Path, settings: dict[str, object] | None = None) -> bool:
    """Throughput of every row (log scale, coloured by group) and, when the run had two
    scales, the p50 of each read at both."""
    try:
        import matplotlib  # type: ignore[import-not-found,unused-ignore]

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return False
    paired = [row for row in rows if row.p50_vs_base is not None]
    panels = 2 if paired else 1
    height = max(5.0, 0.32 * len(rows) + 1.5)
    figure, axes_list = plt.subplots(
        1, panels, figsize=(9 + 6 * (panels - 1), height), squeeze=False
    )
    _throughput_panel(axes_list[0][0], rows)
    if paired:
        _scale_panel(axes_list[0][1], paired, {row.name: row for row in rows}, settings or {})
    if settings:
        scale = settings.get("scale")
        title = (
            f"articles {_count(float(str(settings.get('articles', 0))))}"
            f"{' / ' + _count(float(str(scale))) if scale else ''}, "
            f"{settings.get('workers')} workers, {settings.get('cpus')} CPUs, "
            f"{settings.get('rounds')} rounds"
        )
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def _throughput_panel(axes: Any, rows: list[Row]) -> None:
    from matplotlib.patches import Patch  # type: ignore[import-not-found,unused-ignore]

    names = [row.name for row in rows]
    colours = [GROUP_COLOURS.get(row.group, "#999999") for row in rows]
    axes.barh(names, [row.rps for row in rows], color=colours)
    axes.set_xscale("log")
    axes.invert_yaxis()
    axes.set_xlabel("requests per second (median, log scale)")
    for index, row in enumerate(rows):
        label = _rate(row.rps)
        if row.vs_peer:
            label += f"  {row.vs_peer:.2f}x peer"
        axes.text(row.rps, index, " " + label, va="center", fontsize=7)
    axes.legend(
        handles=[Patch(color=c, label=g) for g, c in GROUP_COLOURS.items()],
        loc="lower right",
        fontsize=8,
    )


def _scale_panel(
    axes: Any, paired: list[Row], by_name: dict[str, Row], sizes: dict[str, object]
) -> None:
    """The p50 of each read at the small and the large scale, side by side."""
    labels = [row.base or row.name for row in paired]
    small = [by_name[row.base or ""].p50_ms for row in paired]
    large = [row.p50_ms for row in paired]
    ys = list(range(len(paired)))
    few = f"{_count(float(str(sizes.get('articles', 0))))} articles"
    many = f"{_count(float(str(sizes.get('scale') or 0)))} articles"
    axes.barh([y - 0.2 for y in ys], small, height=0.4, label=few, color="#9ecae1")
    axes.barh([y + 0.2 for y in ys], large, height=0.4, label=many, color="#08519c")
    axes.set_yticks(ys)
    axes.set_yticklabels(labels, fontsize=8)
    axes.set_xscale("log")
    axes.invert_yaxis()
    axes.set_xlabel("p50 latency, ms (log scale)")
    axes.legend(fontsize=8)
