"""Input rules and the throttle decision, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from auth_service.models import (
    FailureRecord,
    ThrottlePolicy,
    login_violations,
    password_violations,
    registration_violations,
)

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def test_registration_accepts_valid_input() -> None:
    assert registration_violations("a@example.com", "alice_1.x-y", "correct horse") == []


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
    assert [name for name, _ in registration_violations(email, username, password)] == [field]


def test_registration_accepts_a_password_of_exactly_72_bytes() -> None:
    assert registration_violations("a@example.com", "alice", "é" * 36) == []


def test_registration_reports_every_invalid_field_at_once() -> None:
    names = [name for name, _ in registration_violations("x", "!", "")]
    assert names == ["email", "username", "password"]


def test_login_requires_username_and_password() -> None:
    assert [name for name, _ in login_violations(" ", "")] == ["username", "password"]


def test_throttle_locks_only_after_max_failures_within_the_window() -> None:
    policy = ThrottlePolicy(3, timedelta(minutes=15))
    assert not policy.is_locked(None, NOW)
    assert not policy.is_locked(FailureRecord(2, NOW), NOW)
    assert policy.is_locked(FailureRecord(3, NOW), NOW + timedelta(minutes=14))
    assert not policy.is_locked(FailureRecord(3, NOW), NOW + timedelta(minutes=15))


@pytest.mark.parametrize("bad", ["a\x00bcdefgh", "abc\ud800defgh"])
def test_nul_and_lone_surrogates_are_invalid_input_not_server_errors(bad):
    assert ("password", "contains a character that is not allowed") in password_violations(bad)
    assert any(field == "username" for field, _ in login_violations(bad, "password1"))
    violations = registration_violations(f"{bad}@x.io", "ok_name", "password1")
    assert any(field == "email" for field, _ in violations)
