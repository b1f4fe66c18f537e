"""Access tokens: EdDSA-signed JWTs (RFC 9068 `at+jwt`), verified only against our own keys.

Verification is svckit.tokens' rule, the same one the article service applies.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from auth_service.errors import InvalidTokenError
from auth_service.keys import KeyRing
from auth_service.models import IssuedToken, TokenSubject
from svckit.tokens import (
    ALGORITHM,
    EPOCH_CLAIM,
    TOKEN_TYPE,
    AccessTokenVerifier,
    TokenRejectedError,
)


class TokenCodec:
    """Issues tokens with the active key; verifies with any published key."""

    def __init__(self, keyring: KeyRing, *, issuer: str, audience: str, ttl: timedelta) -> None:
        self._keyring = keyring
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl
        self._verifier = AccessTokenVerifier(self._public_key, issuer=issuer, audience=audience)

    def issue(self, user_id: int, now: datetime | None = None, epoch: int = 0) -> IssuedToken:
        issued = now or datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "iat": issued,
            "exp": issued + self._ttl,
            "iss": self._issuer,
            "aud": self._audience,
            "jti": secrets.token_urlsafe(16),
            EPOCH_CLAIM: epoch,
        }
        headers = {"kid": self._keyring.active_kid, "typ": TOKEN_TYPE}
        token = jwt.encode(claims, self._keyring.signing_key, ALGORITHM, headers=headers)
        return IssuedToken(token, int(self._ttl.total_seconds()))

    async def verify(self, token: str) -> int:
        """The user id a valid token speaks for; InvalidTokenError for anything else."""
        return (await self.subject(token)).user_id

    async def subject(self, token: str) -> TokenSubject:
        """The user and token epoch of a valid token; InvalidTokenError for anything else.
        Whether the epoch is still the user's is for the caller, who reads the user."""
        try:
            verified = await self._verifier.verify(token)
        except TokenRejectedError as exc:
            raise InvalidTokenError from exc
        return TokenSubject(verified.user_id, verified.epoch)

    async def _public_key(self, kid: str) -> Ed25519PublicKey | None:
        return self._keyring.public_keys.get(kid)
