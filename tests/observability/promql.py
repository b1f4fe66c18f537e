"""The metric names a PromQL expression reads (enough of PromQL for our rules and panels)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

OBSERVABILITY = Path(__file__).resolve().parents[2] / "observability"
RULES = OBSERVABILITY / "prometheus"
KEYWORDS = frozenset(
    [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
        "offset",
        "inf",
        "nan",
    ]
)


def metric_names(expr: str) -> set[str]:
    """Names of the series `expr` selects: not functions, labels, keywords or durations."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\boffset\s+\w+", "", text)  # offset 5m
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        name = match.group()
        after = text[match.end() :].lstrip()
        if after.startswith("(") or name in KEYWORDS:
            continue  # a function or aggregation, or a keyword
        names.add(name)
    return names


def rules() -> list[dict[str, Any]]:
    """Every rule of the recording and alerting files."""
    found = []
    for name in ("recording.yml", "alerts.yml"):
        for group in yaml.safe_load((RULES / name).read_text())["groups"]:
            found.extend(group["rules"])
    return found


def recorded() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}
