"""The one bearer-header reading: a token, no credentials, or the service's own refusal."""

from __future__ import annotations

import pytest

from svckit.bearer import Metadata, bearer_token


class RefusedError(Exception):
    """Stands for a service's "not authenticated" error."""


@pytest.mark.parametrize(
    ("metadata", "token"),
    [
        ([("authorization", "Bearer abc.def")], "abc.def"),
        ([("authorization", "bearer  abc ")], "abc"),  # the scheme is case-insensitive
        ([("x-request-id", "1"), ("authorization", "BEARER t")], "t"),
        ([("x-request-id", "1")], None),  # no credentials: an anonymous call
        ([], None),
        (None, None),
    ],
)
def test_a_bearer_token_or_none_is_read(metadata: Metadata | None, token: str | None) -> None:
    assert bearer_token(metadata, RefusedError) == token


@pytest.mark.parametrize(
    "metadata",
    [
        [("authorization", "Basic YWxpY2U6eA==")],
        [("authorization", "Bearer")],
        [("authorization", "Bearer   ")],
        [("authorization", "abc.def")],
        [("authorization", "Bearer a"), ("authorization", "Bearer b")],
    ],
    ids=["other-scheme", "no-token", "blank-token", "no-scheme", "two-headers"],
)
def test_malformed_credentials_raise_the_services_error(metadata: Metadata) -> None:
    with pytest.raises(RefusedError):
        bearer_token(metadata, RefusedError)
