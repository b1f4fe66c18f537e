"""A few seconds of the soak's traffic on the session stack (`make soak` runs it for minutes
on a stack of its own, with memory figures)."""

from __future__ import annotations

from soak.traffic import Ledger, Stats, drive
from soak.verify import verify


async def test_a_short_soak_answers_as_expected_and_loses_nothing(gateway, database):
    ledger, stats = Ledger(), Stats()
    await drive(gateway.url, workers=2, seconds=8, ledger=ledger, stats=stats)
    assert stats.requests >= 4  # each client registers and logs in first
    assert not stats.unexpected, stats.samples
    assert {op for op, _ in stats.statuses} >= {"register", "login"}
    verdict = await verify(database.superuser_url, ledger)
    assert verdict.ok, verdict
    assert verdict.checked_accounts > 0
