"""The page token codec on its own: a position round-trips, anything else decodes to None."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from article_service.page_tokens import (
    Position,
    decode_page_token,
    encode_page_token,
    filters_fingerprint,
)


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
    assert decode_page_token(token) == Position(created_at, 42)


@pytest.mark.parametrize(
    "token",
    [
        "not base64!",
        _raw("v2.0.1"),  # another version
        _raw("v1.0.0"),  # id 0 names no article
        _raw("v1.0.2147483648"),  # past the id column's range
        _raw("v1.999999999999999999.1"),  # past datetime's range
        _raw("v1.0.1") + "A" * 96,  # too long
        _raw("v1.0.1.0123"),  # a fingerprint too short
        _raw("v1.0.1.0123456789ABCDEF"),  # not ours: we write lower-case hex
        "é",
    ],
)
def test_anything_but_one_of_our_tokens_decodes_to_none(token):
    assert decode_page_token(token) is None


def test_a_filtered_position_round_trips_with_its_fingerprint():
    when = datetime(2026, 12, 4, 17, 0, 0, 123_456, tzinfo=UTC)
    filters = filters_fingerprint(None, "", False, "hello world")
    assert len(filters) == 16
    token = encode_page_token(when, 2**31 - 1, filters)
    assert decode_page_token(token) == Position(when, 2**31 - 1, filters)


def test_no_filter_has_no_fingerprint_and_the_plain_token_is_unchanged():
    when = datetime(2026, 1, 1, tzinfo=UTC)
    assert filters_fingerprint(None, "", False, "") == ""
    assert encode_page_token(when, 7, "") == encode_page_token(when, 7)
    assert _raw(f"v1.{int(when.timestamp()) * 1_000_000}.7") == encode_page_token(when, 7)


@pytest.mark.parametrize(
    "other",
    [(5, "", False, ""), (None, "ann", False, ""), (None, "", True, ""), (None, "", False, "a")],
)
def test_each_filter_has_a_fingerprint_of_its_own(other):
    assert filters_fingerprint(*other) not in ("", filters_fingerprint(6, "", False, ""))


def test_a_username_fingerprints_the_same_in_any_case():
    assert filters_fingerprint(None, "Ann", False, "") == filters_fingerprint(
        None, "ann", False, ""
    )
