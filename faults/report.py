"""The table the suite prints, and the files it keeps (faults/results/, faults/RESULTS.md)."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Sequence
from pathlib import Path

from faults.context import Result

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
FULL_RESULTS = HERE / "RESULTS.md"
HEADERS = (
    "scenario",
    "requests",
    "acknowledged",
    "lost",
    "unexpected",
    "recovered",
    "error codes seen",
    "recovery s",
    "result",
)


def _codes(result: Result) -> str:
    return ", ".join(f"{code} {n}" for code, n in result.codes.most_common()) or "-"


def rows(results: Sequence[Result]) -> list[tuple[str, ...]]:
    return [
        (
            r.name,
            str(r.requests),
            str(r.acknowledged),
            str(r.lost),
            str(r.unexpected),
            str(r.recovered),
            _codes(r),
            "-" if r.recovery_s is None else f"{r.recovery_s:.2f}",
            "PASS" if r.passed else "FAIL",
        )
        for r in results
    ]


def markdown(results: Sequence[Result], settings: str) -> str:
    numeric = {1, 2, 3, 4, 5, 7}
    lines = [
        f"Settings: {settings}.",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "| " + " | ".join("---:" if i in numeric else "---" for i in range(len(HEADERS))) + " |",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows(results)]
    lines.append("")
    for r in results:
        for note in r.notes:
            lines.append(f"- {r.name}: {note}")
        for violation in r.violations:
            lines.append(f"- {r.name}: VIOLATION {violation}")
    return "\n".join(lines) + "\n"


def text_table(results: Sequence[Result]) -> str:
    table = [HEADERS, *rows(results)]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADERS))]
    out = []
    for n, row in enumerate(table):
        out.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def save(results: Sequence[Result], settings: str, *, full: bool) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    body = markdown(results, settings)
    path = RESULTS_DIR / f"{stamp}.md"
    path.write_text(body)
    (RESULTS_DIR / "latest.md").write_text(body)
    data = {
        "settings": settings,
        "machine": platform.platform(),
        "results": [
            {
                "scenario": r.name,
                "requests": r.requests,
                "acknowledged": r.acknowledged,
                "lost": r.lost,
                "unexpected": r.unexpected,
                "recovered": r.recovered,
                "codes": dict(r.codes),
                "recovery_s": r.recovery_s,
                "seconds": r.seconds,
                "passed": r.passed,
                "violations": r.violations,
                "notes": r.notes,
            }
            for r in results
        ],
    }
    (RESULTS_DIR / "latest.json").write_text(json.dumps(data, indent=2) + "\n")
    if full:
        FULL_RESULTS.write_text(
            "# Fault suite: latest full run\n\n"
            "Written by `make faults` (`python -m faults`); every run is also kept in "
            "faults/results/.\n\n" + body
        )
    return path
