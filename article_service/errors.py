"""Domain errors of the article service and their one mapping to gRPC status codes.

    ArticleError
     +-- InvalidInputError          INVALID_ARGUMENT, with field violations
     +-- ArticleNotFoundError       NOT_FOUND "Article not found" (missing, or another's draft)
     +-- NotAuthorError             PERMISSION_DENIED (another's published article, or drafts)
     +-- ConcurrentChangeError      ABORTED (the sent etag is no longer the article's)
     +-- NotAuthenticatedError      UNAUTHENTICATED "Could not validate credentials"
     +-- AuthUnavailableError       UNAVAILABLE (the auth service's keys could not be fetched)
     +-- DatabaseUnavailableError   UNAVAILABLE (PostgreSQL unreachable)

Anything else is unexpected: svckit.calls logs it and answers INTERNAL.
"""

from __future__ import annotations

import grpc

from svckit.database import UNAVAILABLE_MESSAGE
from svckit.status import RichStatus

NOT_FOUND_MESSAGE = "Article not found"
CREDENTIALS_MESSAGE = "Could not validate credentials"
CONCURRENT_CHANGE_MESSAGE = "Article was changed by someone else; reload and retry"


class ArticleError(Exception):
    """Base of the errors raised on purpose to answer a client."""


class InvalidInputError(ArticleError):
    def __init__(self, violations: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{name}: {why}" for name, why in violations))
        self.violations = tuple(violations)


class ArticleNotFoundError(ArticleError):
    def __init__(self) -> None:
        super().__init__(NOT_FOUND_MESSAGE)


class NotAuthorError(ArticleError):
    def __init__(self, message: str = "Only the author may change this article") -> None:
        super().__init__(message)


class ConcurrentChangeError(ArticleError):
    def __init__(self) -> None:
        super().__init__(CONCURRENT_CHANGE_MESSAGE)


class NotAuthenticatedError(ArticleError):
    """One message for every bad token shape, so a caller learns nothing from it."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(CREDENTIALS_MESSAGE)
        self.reason = reason  # for logs and tests only, never sent


class AuthUnavailableError(ArticleError):
    def __init__(self) -> None:
        super().__init__("The auth service is unavailable, try again later")


class DatabaseUnavailableError(ArticleError):
    def __init__(self) -> None:
        super().__init__(UNAVAILABLE_MESSAGE)


def to_status(exc: Exception) -> RichStatus | None:
    """The status a domain error answers; None for anything unexpected."""
    if isinstance(exc, InvalidInputError):
        return RichStatus(grpc.StatusCode.INVALID_ARGUMENT, "Invalid input", exc.violations)
    code = _CODES.get(type(exc))
    return None if code is None else RichStatus(code, str(exc))


_CODES: dict[type[Exception], grpc.StatusCode] = {
    ArticleNotFoundError: grpc.StatusCode.NOT_FOUND,
    NotAuthorError: grpc.StatusCode.PERMISSION_DENIED,
    ConcurrentChangeError: grpc.StatusCode.ABORTED,
    NotAuthenticatedError: grpc.StatusCode.UNAUTHENTICATED,
    AuthUnavailableError: grpc.StatusCode.UNAVAILABLE,
    DatabaseUnavailableError: grpc.StatusCode.UNAVAILABLE,
}
