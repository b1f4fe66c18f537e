"""The edges: settings validation, login body parsing, and the error-to-status mapping."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from pydantic import SecretStr, ValidationError

from auth_service.config import Settings
from auth_service.errors import InvalidInputError, TooManyAttemptsError, to_status
from auth_service.servicer import parse_login_body


def test_settings_refuse_bcrypt_cost_below_12(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        Settings(
            database_url=SecretStr("postgresql+asyncpg://x/y"), bcrypt_rounds=10, keys_dir=tmp_path
        )


def test_settings_hide_the_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_DATABASE_URL", "postgresql+asyncpg://u:secret@h/db")
    monkeypatch.setenv("AUTH_PORT", "6000")
    settings = Settings()  # type: ignore[call-arg]  # filled from the environment
    assert settings.port == 6000
    assert "secret" not in repr(settings)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (
            "application/x-www-form-urlencoded",
            b"username=al%40x.io&password=p+w&grant_type=password",
        ),
        ("application/x-www-form-urlencoded; charset=UTF-8", b"username=al%40x.io&password=p+w"),
        ("application/json", b'{"username": "al@x.io", "password": "p w"}'),
    ],
)
def test_login_body_is_read_from_a_form_or_json(content_type: str, body: bytes) -> None:
    assert parse_login_body(content_type, body) == ("al@x.io", "p w")


@pytest.mark.parametrize(
    ("content_type", "body", "fields"),
    [
        ("text/plain", b"username=a&password=b", ["form"]),
        ("application/json", b"[1]", ["username", "password"]),
        ("application/json", b"{not json", ["form"]),
        ("application/x-www-form-urlencoded", b"username=a", ["password"]),
        ("application/json", b'{"username": 1, "password": "x"}', ["username"]),
    ],
)
def test_login_body_errors_name_the_field(
    content_type: str, body: bytes, fields: list[str]
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_login_body(content_type, body)
    assert [name for name, _ in caught.value.violations] == fields


def test_domain_errors_map_to_status_codes_and_others_do_not() -> None:
    status = to_status(InvalidInputError([("email", "bad")]))
    assert status is not None
    assert status.code is grpc.StatusCode.INVALID_ARGUMENT
    assert status.field_violations == (("email", "bad"),)
    throttled = to_status(TooManyAttemptsError())
    assert throttled is not None
    assert throttled.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert to_status(RuntimeError("SELECT secret")) is None
