"""The wire codec of ListArticles page tokens: a position in the listing order, and the
filters it was listed with, opaque to clients.

A page token names the last article of a page by its place in the listing order,
(created_at, id): "v1.<microseconds since the epoch>.<id>", base64url without padding. A
filtered listing (author, drafts, search) adds ".<fingerprint>", a hash of its filters, so
a token is refused with filters other than its own (the position would mean nothing
there); tokens of the plain listing, old ones included, have none.
Not signed: it is a position, not a permission; the listing's visibility rules still apply.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TOKEN = re.compile(r"v1\.(-?\d{1,18})\.(\d{1,10})(?:\.([0-9a-f]{16}))?")
_MAX_TOKEN = 96


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page token says the next page starts, and for which filters."""

    created_at: datetime
    article_id: int
    # filters_fingerprint() of the listing's filters; "" for the plain listing.
    filters: str = ""


def filters_fingerprint(author_id: int | None, author: str, drafts: bool, q: str) -> str:
    """16 hex digits naming these filters; "" when there are none (the plain listing).
    Usernames compare case-insensitively, so their case does not count."""
    if author_id is None and not author and not drafts and not q:
        return ""
    canonical = json.dumps([author_id, author.lower(), drafts, q], ensure_ascii=True)
    return hashlib.blake2b(canonical.encode(), digest_size=8).hexdigest()


def encode_page_token(created_at: datetime, article_id: int, filters: str = "") -> str:
    """The token of the page that starts after the article (created_at, article_id), in the
    listing whose filters have the fingerprint `filters`."""
    delta = created_at - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    raw = f"v1.{micros}.{article_id}" + (f".{filters}" if filters else "")
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def decode_page_token(token: str) -> Position | None:
    """The position a token names; None for anything that is not one of ours."""
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
        created_at = _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        return None
    return Position(created_at, article_id, found.group(3) or "")
