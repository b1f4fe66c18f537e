"""The one reading of `authorization: Bearer <token>` call metadata, for both servicers."""

from __future__ import annotations

from collections.abc import Callable, Iterable

Metadata = Iterable[tuple[str, str | bytes]]


def bearer_token(metadata: Metadata | None, refuse: Callable[[], Exception]) -> str | None:
    """The token of the call's one `authorization: Bearer <token>` entry, or None when the
    call sends no authorization at all.

    Anything else raises `refuse()`, the service's own "not authenticated" error: another
    scheme, an empty token, or two authorization entries. A malformed credential is an
    error, never read as an anonymous call (reads would then quietly hide the caller's
    drafts) nor resolved by guessing which of two entries was meant.
    """
    found: str | bytes | None = None
    for key, value in metadata or ():
        if key == "authorization":
            if found is not None:
                raise refuse()
            found = value
    if found is None:
        return None
    scheme, _, token = str(found).partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise refuse()
    return token
