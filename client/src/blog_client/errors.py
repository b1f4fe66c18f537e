"""The errors a call raises, one class per status code a caller handles differently.

    BlogError                    any status but OK; `.code` and `.message`
     +-- InvalidArgumentError    INVALID_ARGUMENT; `.violations`: (field, description) pairs
     +-- NotFoundError           NOT_FOUND
     +-- AlreadyExistsError      ALREADY_EXISTS (a taken email or username)
     +-- PermissionDeniedError   PERMISSION_DENIED (not the author)
     +-- UnauthenticatedError    UNAUTHENTICATED (a missing, bad or expired token)
     +-- ResourceExhaustedError  RESOURCE_EXHAUSTED (too many failed logins; shed load)
     +-- FailedPreconditionError FAILED_PRECONDITION
     +-- AbortedError            ABORTED (a stale etag: reload and retry)
     +-- DeadlineExceededError   DEADLINE_EXCEEDED
     +-- UnavailableError        UNAVAILABLE (still so after the channel's own retries)

Other codes (INTERNAL, UNKNOWN, CANCELLED, ...) raise BlogError itself. The original
grpc.aio.AioRpcError is the new error's __cause__.
"""

from __future__ import annotations

from typing import NamedTuple

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2

# Where the server puts the google.rpc.Status with its details (the gRPC convention).
STATUS_DETAILS_KEY = "grpc-status-details-bin"


class FieldViolation(NamedTuple):
    """One bad field of a request, as google.rpc.BadRequest names it."""

    field: str
    description: str


class BlogError(Exception):
    """A call that ended with a status other than OK."""

    def __init__(self, message: str, code: grpc.StatusCode) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class InvalidArgumentError(BlogError):
    """The request broke a rule; `violations` says which fields and why."""

    def __init__(
        self, message: str, code: grpc.StatusCode, violations: tuple[FieldViolation, ...] = ()
    ) -> None:
        super().__init__(message, code)
        self.violations = violations


class NotFoundError(BlogError):
    pass


class AlreadyExistsError(BlogError):
    pass


class PermissionDeniedError(BlogError):
    pass


class UnauthenticatedError(BlogError):
    pass


class ResourceExhaustedError(BlogError):
    pass


class FailedPreconditionError(BlogError):
    pass


class AbortedError(BlogError):
    pass


class DeadlineExceededError(BlogError):
    pass


class UnavailableError(BlogError):
    pass


_BY_CODE: dict[grpc.StatusCode, type[BlogError]] = {
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.ABORTED: AbortedError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
}


def from_rpc_error(error: grpc.aio.AioRpcError) -> BlogError:
    """The error of our tree that a failed call's status stands for."""
    code = error.code()
    message = error.details() or code.name
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidArgumentError(message, code, field_violations(error.trailing_metadata()))
    return _BY_CODE.get(code, BlogError)(message, code)


def field_violations(trailers: grpc.aio.Metadata | None) -> tuple[FieldViolation, ...]:
    """The BadRequest field violations in a call's trailers; none when there are none."""
    status = _rich_status(trailers)
    if status is None:
        return ()
    found: list[FieldViolation] = []
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            found += [FieldViolation(v.field, v.description) for v in bad_request.field_violations]
    return tuple(found)


def _rich_status(trailers: grpc.aio.Metadata | None) -> status_pb2.Status | None:
    raw = trailers.get(STATUS_DETAILS_KEY) if trailers is not None else None
    if not isinstance(raw, bytes):
        return None
    try:
        return status_pb2.Status.FromString(raw)
    except DecodeError:
        # A status we cannot read still has its code and message; only the details go.
        return None
