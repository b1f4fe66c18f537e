"""The page token codec on its own: a position round-trips, anything else decodes to None."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from article_service.page_tokens import decode_page_token, encode_page_token


def _raw(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "created_at",
    [
        datetime(2025, 3, 4, 5, 6, 7, 891_011, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC),  # before the epoch
    ],
)
def test_a_position_round_trips_to_the_microsecond(created_at):
    token = encode_page_token(created_at, 42)
    assert "=" not in token
    assert decode_page_token(token) == (created_at, 42)


@pytest.mark.parametrize(
    "token",
    [
        "not base64!",
        _raw("v2.0.1"),  # another version
        _raw("v1.0.0"),  # id 0 names no article
        _raw("v1.0.2147483648"),  # past the id column's range
        _raw("v1.999999999999999999.1"),  # past datetime's range
        _raw("v1.0.1") + "A" * 64,  # too long
        "é",
    ],
)
def test_anything_but_one_of_our_tokens_decodes_to_none(token):
    assert decode_page_token(token) is None
