"""Domain objects and rules of the auth service: users, input validation, tokens, the login
throttle. Validation raises InvalidInputError with every bad field, as the article service's
does; the use cases call it before anything else."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from auth_service.errors import InvalidInputError

EMAIL_MAX_LENGTH = 254
USERNAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]{3,50}")
# Deliberately loose: one @, no spaces, a dot in the domain. Real proof is a confirmation mail.
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
UUID_PATTERN = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
PASSWORD_MIN_CHARS = 8
PASSWORD_MAX_BYTES = 72  # bcrypt ignores anything beyond; we refuse rather than truncate
MAX_BATCH_IDS = 100
EVENT_BATCH = 500  # events read from the outbox per query of the feed


@dataclass(frozen=True)
class User:
    id: int
    email: str
    username: str
    created_at: datetime
    updated_at: datetime
    # Raised by each password change; access tokens carry the epoch they were issued in
    # (the `tep` claim) and one below the user's is refused (svckit.tokens has the rule).
    token_epoch: int = 0


@dataclass(frozen=True)
class TokenSubject:
    """Who a verified access token speaks for, and the token epoch it was issued in."""

    user_id: int
    epoch: int

    def is_current_for(self, user: User) -> bool:
        """False for a token issued before the user's last password change."""
        return self.user_id == user.id and self.epoch >= user.token_epoch


@dataclass(frozen=True)
class NewUser:
    email: str
    username: str
    password_hash: str
    request_id: uuid.UUID | None = None  # the client's idempotency key, if it sent one


@dataclass(frozen=True)
class StoredCredentials:
    """A user with their password hash: only the login path ever sees it."""

    user: User
    password_hash: str


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int  # seconds
    refresh_token: str = ""  # the session's next refresh token, when one comes with it
    refresh_expires_in: int = 0  # seconds


@dataclass(frozen=True)
class PasswordChanged:
    valid_after: datetime  # tokens issued before this are refused
    token: IssuedToken  # a new pair, issued after it


@dataclass(frozen=True)
class PublicKey:
    kid: str
    algorithm: str
    pem: str


class UserEventKind(Enum):
    """What happened to an account; the values are what the outbox table stores."""

    CREATED = "created"
    DELETED = "deleted"
    RENAMED = "renamed"
    TOKENS_REVOKED = "tokens_revoked"  # a password change: `token_epoch` is the new floor


@dataclass(frozen=True)
class UserEvent:
    """One entry of the account feed (the outbox), in commit order by `seq`."""

    seq: int
    kind: UserEventKind
    user_id: int
    username: str
    occurred_at: datetime
    token_epoch: int = 0  # the user's token epoch after the event


@dataclass(frozen=True)
class FailureRecord:
    """Failed logins of one account name since `window_started_at`."""

    failures: int
    window_started_at: datetime


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures: int
    window: timedelta

    def is_locked(self, record: FailureRecord | None, now: datetime) -> bool:
        if record is None or record.window_started_at + self.window <= now:
            return False
        return record.failures >= self.max_failures


def account_key(name: str) -> str:
    """The throttle key of a login name: case-insensitive, like the account lookup."""
    return name.strip().lower()


# --- validation ---------------------------------------------------------------------
# Each check raises InvalidInputError naming every bad field at once.

NOT_ALLOWED = "contains a character that is not allowed"


def validate_registration(email: str, username: str, password: str, request_id: str = "") -> None:
    _raise_if(
        {
            "request_id": _request_id_problem(request_id),
            "email": _email_problem(email),
            "username": _username_problem(username),
            "password": _password_problem(password),
        }
    )


def validate_update(username: str | None, email: str | None) -> None:
    """A profile change: each field sent follows registration's rule; None is not sent."""
    _raise_if(
        {
            "username": None if username is None else _username_problem(username),
            "email": None if email is None else _email_problem(email),
        }
    )


def validate_password_change(current_password: str, new_password: str) -> None:
    _raise_if(
        {
            "current_password": "is required"
            if not current_password
            else _storable_problem(current_password),
            "new_password": _password_problem(new_password),
        }
    )


def validate_login(username: str, password: str) -> None:
    # The password is not stripped: one made of spaces is a password registration accepts.
    _raise_if(
        {
            "username": "is required" if not username.strip() else _storable_problem(username),
            "password": "is required" if not password else _storable_problem(password),
        }
    )


def same_registration(user: User, email: str, username: str) -> bool:
    """Whether a repeated registration asks for the account `user` already is."""
    return user.email.lower() == email.lower() and user.username.lower() == username.lower()


def _raise_if(problems: dict[str, str | None]) -> None:
    violations = [(name, why) for name, why in problems.items() if why is not None]
    if violations:
        raise InvalidInputError(violations)


def _request_id_problem(request_id: str) -> str | None:
    if request_id == "" or UUID_PATTERN.fullmatch(request_id):
        return None
    return "must be a UUID (like 123e4567-e89b-12d3-a456-426614174000)"


def _email_problem(email: str) -> str | None:
    if len(email) > EMAIL_MAX_LENGTH or not EMAIL_PATTERN.fullmatch(email) or _unstorable(email):
        return "must be a valid email address"
    return None


def _username_problem(username: str) -> str | None:
    if USERNAME_PATTERN.fullmatch(username):
        return None
    return "must be 3-50 letters, digits, '_', '.' or '-'"


def _password_problem(password: str) -> str | None:
    if _unstorable(password):
        return NOT_ALLOWED
    if len(password) < PASSWORD_MIN_CHARS:
        return f"must be at least {PASSWORD_MIN_CHARS} characters"
    if len(password.encode("utf-8")) > PASSWORD_MAX_BYTES:
        return f"must be at most {PASSWORD_MAX_BYTES} bytes in UTF-8"
    return None


def _storable_problem(text: str) -> str | None:
    return NOT_ALLOWED if _unstorable(text) else None


def _unstorable(text: str) -> bool:
    """NUL and lone surrogates: PostgreSQL text and UTF-8 cannot hold them."""
    return any(ch == "\x00" or "\ud800" <= ch <= "\udfff" for ch in text)
