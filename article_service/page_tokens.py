"""The wire codec of ListArticles page tokens: a position in the listing order, opaque to
clients.

A page token names the last article of a page by its place in the listing order,
(created_at, id): "v1.<microseconds since the epoch>.<id>", base64url without padding.
Not signed: it is a position, not a permission; the listing's visibility rules still apply.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TOKEN = re.compile(r"v1\.(-?\d{1,18})\.(\d{1,10})")
_MAX_TOKEN = 64


def encode_page_token(created_at: datetime, article_id: int) -> str:
    """The token of the page that starts after the article (created_at, article_id)."""
    delta = created_at - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    raw = f"v1.{micros}.{article_id}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_page_token(token: str) -> tuple[datetime, int] | None:
    """The (created_at, id) a token names; None for anything that is not one of ours."""
    if len(token) > _MAX_TOKEN or not token.isascii():
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        return None
    found = _TOKEN.fullmatch(raw)
    if found is None:
        return None
    micros, article_id = int(found.group(1)), int(found.group(2))
    if not 0 < article_id <= 2**31 - 1:
        return None
    try:
        return _EPOCH + timedelta(microseconds=micros), article_id
    except OverflowError:
        return None
