"""The overhead table: each row judged against the control of its own round, with the
control-against-itself row as the floor of what the method can tell apart."""

from __future__ import annotations

import pytest

from bench import side_by_side, tracing
from bench.tools import Measured

pytestmark = pytest.mark.unit  # a pure function over measurements; nothing is started


def rounds(rps: list[float], cpu: list[float]) -> list[Measured]:
    return [
        Measured(rps=r, p50_ms=1, p99_ms=2, done=1000, errors=0, cpu_ms={"articles": c})
        for r, c in zip(rps, cpu, strict=True)
    ]


def row_of(table: str, name: str) -> list[str]:
    [line] = [line for line in table.splitlines() if line.startswith(f"| {name} |")]
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_rows_are_paired_with_the_control_of_their_own_round() -> None:
    # The machine slows down over the run: 1,000 req/s, then 500, then 250. A row that
    # costs 2% is 0.98 of the control in every round, though its own median (500 req/s
    # x 0.98) is nothing like the control's overall median.
    off = [1000.0, 500.0, 250.0]
    runs = {
        tracing.CONTROL: rounds(off, [0.50, 0.50, 0.50]),
        tracing.TRACED_1: rounds([r * 0.98 for r in off], [0.51, 0.51, 0.51]),
        tracing.METRICS: rounds([r * 0.90 for r in off], [0.55, 0.55, 0.55]),
        tracing.AGAIN: rounds([r * 0.99 for r in off], [0.50, 0.50, 0.50]),
    }
    table = tracing.overhead(runs)
    traced = row_of(table, "traced 1%")
    assert traced[1].startswith("0.980 ")
    assert traced[2].startswith("+2.0% ")
    assert traced[3] == "2.0% cost, under 5%: met"
    assert traced[4] == "3"
    assert row_of(table, "metrics on")[3] == "10.0% cost, under 5%: missed"
    assert row_of(table, "metrics and tracing off, again")[3] == "-"  # no target of its own


def test_a_cost_the_control_against_itself_also_shows_is_called_noise() -> None:
    runs = {
        tracing.CONTROL: rounds([1000.0, 1000.0, 1000.0], [0.5, 0.5, 0.5]),
        tracing.TRACED_1: rounds([970.0, 960.0, 975.0], [0.5, 0.5, 0.5]),
        tracing.AGAIN: rounds([955.0, 960.0, 950.0], [0.5, 0.5, 0.5]),
    }
    assert row_of(tracing.overhead(runs), "traced 1%")[3] == (
        "3.0% cost, under 5%: met, within the noise"
    )


def test_no_control_no_table() -> None:
    assert tracing.overhead({tracing.TRACED_1: rounds([1.0], [1.0])}) == ""


def test_side_by_side_judges_cpu_per_request_against_the_same_seconds_control() -> None:
    def pairs(ratios: list[float]) -> list[side_by_side.Paired]:
        # The control's own cost moves from round to round; only the ratio is the row's.
        return [
            side_by_side.Paired((off, off * ratio), (600.0, 598.0))
            for off, ratio in zip([0.40, 0.55, 0.47], ratios, strict=True)
        ]

    table = side_by_side.report(
        {
            tracing.AGAIN: pairs([1.00, 0.99, 1.01]),
            tracing.TRACED_1: pairs([1.03, 1.02, 1.04]),
            tracing.METRICS: pairs([1.07, 1.06, 1.08]),
        }
    )
    traced = row_of(table, "traced 1%")
    assert traced[2] == "+3.0% (+2.5%..+3.5%)"
    assert traced[4] == "3.0% cost, under 5%: met"
    assert row_of(table, "metrics on")[4] == "7.0% cost, under 5%: missed"
    assert row_of(table, "metrics and tracing off, again")[2].startswith("+0.0% ")
    assert side_by_side.report({}) == ""
