"""Tokens issued before a password change: refused by the token's epoch, cached or not, and
the per-process table of epochs that says so."""

from __future__ import annotations

import pytest

from article_service.auth_client import PublicKeyCache, TokenVerifier
from article_service.errors import NotAuthenticatedError
from article_service.token_epochs import TokenEpochs

from .test_auth_client import Source, _token


def _verifier(epochs: TokenEpochs) -> TokenVerifier:
    keys = PublicKeyCache(Source(), min_refresh_seconds=5)
    return TokenVerifier(keys, issuer="blog-auth", audience="blog", epoch_floor=epochs.floor)


async def _no_rows(seq: int) -> list[tuple[int, int, int]]:
    return []


async def test_a_token_below_the_users_epoch_is_refused_even_from_the_cache() -> None:
    epochs = TokenEpochs(_no_rows, interval=1.0)
    verifier = _verifier(epochs)
    old, current = _token(), _token(tep=1)
    assert await verifier.user_id(old) == 42  # remembered from now on
    epochs.raise_to(42, 1)
    with pytest.raises(NotAuthenticatedError):
        await verifier.user_id(old)
    assert await verifier.user_id(current) == 42
    assert await verifier.user_id(_token(tep=2)) == 42  # a later change, not yet learnt


async def test_epochs_only_grow_and_refresh_reads_past_the_last_seq() -> None:
    asked: list[int] = []

    async def fetch(seq: int) -> list[tuple[int, int, int]]:
        asked.append(seq)
        return [(7, 3, 10), (8, 1, 11)] if seq == 0 else []

    epochs = TokenEpochs(fetch, interval=1.0)
    await epochs.refresh()
    await epochs.refresh()
    assert asked == [0, 11]
    epochs.raise_to(7, 2)  # an older event applied late: no lower
    assert (epochs.floor(7), epochs.floor(8), epochs.floor(9)) == (3, 1, 0)
    assert len(epochs) == 2
