"""Input rules and the throttle decision, as pure functions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from auth_service.errors import InvalidInputError
from auth_service.models import (
    FailureRecord,
    ThrottlePolicy,
    validate_login,
    validate_registration,
)

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def _violations(validate: Callable[..., None], *args: str) -> list[tuple[str, str]]:
    """What `validate` refuses, field by field; [] when it accepts."""
    try:
        validate(*args)
    except InvalidInputError as exc:
        return list(exc.violations)
    return []


def _fields(validate: Callable[..., None], *args: str) -> list[str]:
    return [name for name, _ in _violations(validate, *args)]


def test_registration_accepts_valid_input() -> None:
    assert _violations(validate_registration, "a@example.com", "alice_1.x-y", "correct horse") == []


@pytest.mark.parametrize(
    ("email", "username", "password", "field"),
    [
        ("not-an-email", "alice", "password1", "email"),
        ("a b@example.com", "alice", "password1", "email"),
        ("a@example.com", "al", "password1", "username"),
        ("a@example.com", "x" * 51, "password1", "username"),
        ("a@example.com", "alice!", "password1", "username"),
        ("a@example.com", "alice", "short", "password"),
        ("a@example.com", "alice", "é" * 37, "password"),  # 37 characters, 74 bytes
    ],
)
def test_registration_names_each_invalid_field(
    email: str, username: str, password: str, field: str
) -> None:
    assert _fields(validate_registration, email, username, password) == [field]


def test_registration_accepts_a_password_of_exactly_72_bytes() -> None:
    assert _violations(validate_registration, "a@example.com", "alice", "é" * 36) == []


def test_registration_reports_every_invalid_field_at_once() -> None:
    assert _fields(validate_registration, "x", "!", "") == ["email", "username", "password"]


def test_login_requires_username_and_password() -> None:
    assert _fields(validate_login, " ", "") == ["username", "password"]


def test_login_accepts_a_password_of_spaces_as_registration_does() -> None:
    assert _violations(validate_registration, "a@example.com", "alice", " " * 8) == []
    assert _violations(validate_login, "alice", " " * 8) == []


def test_throttle_locks_only_after_max_failures_within_the_window() -> None:
    policy = ThrottlePolicy(3, timedelta(minutes=15))
    assert not policy.is_locked(None, NOW)
    assert not policy.is_locked(FailureRecord(2, NOW), NOW)
    assert policy.is_locked(FailureRecord(3, NOW), NOW + timedelta(minutes=14))
    assert not policy.is_locked(FailureRecord(3, NOW), NOW + timedelta(minutes=15))


@pytest.mark.parametrize("bad", ["a\x00bcdefgh", "abc\ud800defgh"])
def test_nul_and_lone_surrogates_are_invalid_input_not_server_errors(bad):
    not_allowed = ("password", "contains a character that is not allowed")
    assert not_allowed in _violations(validate_registration, "a@x.io", "ok_name", bad)
    assert not_allowed in _violations(validate_login, "alice", bad)
    assert "username" in _fields(validate_login, bad, "password1")
    assert "email" in _fields(validate_registration, f"{bad}@x.io", "ok_name", "password1")
