"""Errors the auth service raises on purpose, and their one mapping to gRPC status codes.

    AuthError
    ├── InvalidInputError          INVALID_ARGUMENT, with a field violation per bad field
    ├── AlreadyExistsError         ALREADY_EXISTS
    │   ├── EmailTakenError
    │   ├── UsernameTakenError
    │   └── RequestIdUsedError     (a retry: the use case answers it, never a client)
    ├── BadCredentialsError        UNAUTHENTICATED "Incorrect username or password"
    ├── InvalidTokenError          UNAUTHENTICATED "Could not validate credentials"
    ├── RefreshTokenError          UNAUTHENTICATED, saying which of:
    │   ├── RefreshTokenInvalidError   unknown (never issued, or its account is gone)
    │   ├── RefreshTokenExpiredError   its session's absolute lifetime is over
    │   ├── RefreshTokenRevokedError   logged out, revoked by reuse or a password change
    │   └── RefreshTokenReusedError    already exchanged: its whole session is now revoked
    ├── WrongPasswordError         PERMISSION_DENIED (ChangePassword's current password)
    ├── TooManyAttemptsError       RESOURCE_EXHAUSTED
    ├── PasswordWorkBusyError      RESOURCE_EXHAUSTED (too many logins waiting for bcrypt)
    └── DatabaseUnavailableError   UNAVAILABLE, svckit.database's one message

Anything else is unexpected: `to_status` returns None and the interceptor answers INTERNAL.
"""

from __future__ import annotations

import grpc

from svckit.database import UNAVAILABLE_MESSAGE
from svckit.status import RichStatus


class AuthError(Exception):
    code = grpc.StatusCode.UNKNOWN
    message = "Error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message


class InvalidInputError(AuthError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    message = "Invalid input"

    def __init__(self, violations: list[tuple[str, str]]) -> None:
        fields = ", ".join(name for name, _ in violations)
        super().__init__(f"Invalid input: {fields}")
        self.violations = tuple(violations)


class AlreadyExistsError(AuthError):
    code = grpc.StatusCode.ALREADY_EXISTS


class EmailTakenError(AlreadyExistsError):
    message = "Email already registered"


class UsernameTakenError(AlreadyExistsError):
    message = "Username already taken"


class RequestIdUsedError(AlreadyExistsError):
    message = "request_id already used"  # the use case turns it into its answer


class BadCredentialsError(AuthError):
    code = grpc.StatusCode.UNAUTHENTICATED
    message = "Incorrect username or password"


class InvalidTokenError(AuthError):
    code = grpc.StatusCode.UNAUTHENTICATED
    message = "Could not validate credentials"


class WrongPasswordError(AuthError):
    """The current password given to ChangePassword is wrong. Not UNAUTHENTICATED: the
    bearer token is fine, and a client must not drop it."""

    code = grpc.StatusCode.PERMISSION_DENIED
    message = "Current password is incorrect"


class RefreshTokenError(AuthError):
    code = grpc.StatusCode.UNAUTHENTICATED
    message = "Invalid refresh token"


class RefreshTokenInvalidError(RefreshTokenError):
    message = "Invalid refresh token"


class RefreshTokenExpiredError(RefreshTokenError):
    message = "Refresh token expired; log in again"


class RefreshTokenRevokedError(RefreshTokenError):
    message = "Refresh token revoked; log in again"


class RefreshTokenReusedError(RefreshTokenError):
    message = "Refresh token already used; its session is revoked, log in again"


class TooManyAttemptsError(AuthError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    message = "Too many failed login attempts; try again later"


class PasswordWorkBusyError(AuthError):
    """More password checks are waiting than the service takes on: shed, the client retries."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    message = "Too many logins in progress; retry shortly"


class DatabaseUnavailableError(AuthError):
    """The database cannot be reached: the client may retry."""

    code = grpc.StatusCode.UNAVAILABLE
    message = UNAVAILABLE_MESSAGE  # the same words as the article service's


def to_status(exc: Exception) -> RichStatus | None:
    """The status a client sees for one of our errors; None for anything unexpected."""
    if isinstance(exc, InvalidInputError):
        return RichStatus(exc.code, exc.message, exc.violations)
    if isinstance(exc, AuthError):
        return RichStatus(exc.code, exc.message)
    return None
