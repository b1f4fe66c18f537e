"""Domain errors map to the status codes clients expect."""

from __future__ import annotations

import grpc
import pytest

from article_service import errors


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (errors.ArticleNotFoundError(), grpc.StatusCode.NOT_FOUND, "Article not found"),
        (errors.NotAuthorError(), grpc.StatusCode.PERMISSION_DENIED, None),
        (
            errors.ConcurrentChangeError(),
            grpc.StatusCode.ABORTED,
            "Article was changed by someone else; reload and retry",
        ),
        (
            errors.NotAuthenticatedError("expired"),
            grpc.StatusCode.UNAUTHENTICATED,
            "Could not validate credentials",
        ),
        (errors.AuthUnavailableError(), grpc.StatusCode.UNAVAILABLE, None),
        (errors.DatabaseUnavailableError(), grpc.StatusCode.UNAVAILABLE, None),
    ],
)
def test_each_domain_error_has_its_status(error, code, message):
    status = errors.to_status(error)
    assert status is not None
    assert status.code is code
    if message is not None:
        assert status.message == message


def test_invalid_input_carries_field_violations():
    status = errors.to_status(errors.InvalidInputError([("title", "must not be blank")]))
    assert status is not None
    assert status.code is grpc.StatusCode.INVALID_ARGUMENT
    assert status.field_violations == (("title", "must not be blank"),)


def test_an_unexpected_error_is_left_to_the_interceptor():
    assert errors.to_status(RuntimeError("boom")) is None
