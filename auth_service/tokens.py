"""Access tokens: EdDSA-signed JWTs (RFC 9068 `at+jwt`), verified only against our own keys."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import jwt

from auth_service.errors import InvalidTokenError
from auth_service.keys import ALGORITHM, KeyRing
from auth_service.models import IssuedToken

TOKEN_TYPE = "at+jwt"  # noqa: S105 - the JWT typ header (RFC 9068), not a secret
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti"]


class TokenCodec:
    """Issues tokens with the active key; verifies with any published key, algorithm pinned."""

    def __init__(
        self,
        keyring: KeyRing,
        *,
        issuer: str,
        audience: str,
        ttl: timedelta,
        leeway: timedelta = timedelta(seconds=10),
    ) -> None:
        self._keyring = keyring
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl
        self._leeway = leeway

    def issue(self, user_id: int, now: datetime | None = None) -> IssuedToken:
        issued = now or datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "iat": issued,
            "exp": issued + self._ttl,
            "iss": self._issuer,
            "aud": self._audience,
            "jti": secrets.token_urlsafe(16),
        }
        headers = {"kid": self._keyring.active_kid, "typ": TOKEN_TYPE}
        token = jwt.encode(claims, self._keyring.signing_key, ALGORITHM, headers=headers)
        return IssuedToken(token, int(self._ttl.total_seconds()))

    def verify(self, token: str) -> int:
        """The user id a valid token speaks for; InvalidTokenError for anything else."""
        try:
            header = jwt.get_unverified_header(token)
            kid = header.get("kid")
            key = self._keyring.public_keys.get(kid) if isinstance(kid, str) else None
            if key is None or header.get("typ") != TOKEN_TYPE:
                raise InvalidTokenError
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as exc:
            raise InvalidTokenError from exc
        subject = claims["sub"]
        if (
            not isinstance(subject, str)
            or not (subject.isascii() and subject.isdigit())
            or not 0 < int(subject) < 2**31  # user ids are int32
        ):
            raise InvalidTokenError
        return int(subject)
