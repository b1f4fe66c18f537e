"""The one access-token rule both services apply, as a pure check over a given key lookup.

The rule (the RFC 9068 JWT access-token profile, pinned to what the auth service issues):

- `alg` is EdDSA and nothing else; the header is read before any key lookup, so a token
  claiming another algorithm never makes a service fetch keys.
- `typ` is `at+jwt` or `application/at+jwt`, compared case-insensitively (RFC 9068 section
  4 allows both spellings, and media types are case-insensitive); a missing `typ` is refused,
  so an ID token or any other JWT signed by the same key is never taken for an access token.
- `kid` is a string naming a key the key lookup knows; an unknown kid is refused.
- the signature, `iss` and `aud` must match; exp, iat, iss, aud, sub and jti are required.
- `exp`, `nbf` and `iat` are checked with `LEEWAY_SECONDS` of clock skew: a token is valid
  until `exp + LEEWAY_SECONDS`. Ten seconds because hosts kept by NTP still drift by a few
  seconds, because it is what the auth service always allowed (its clients' tokens must not
  start failing), and because it is small next to a 30-minute lifetime. It is one constant
  so a token is valid at one service exactly when it is valid at the other.
- `sub` is a user id: decimal digits, 1 to 2**31 - 1 (ids are int32).
- `tep`, when present, is the user's token epoch when the token was issued: an integer
  0 to 2**31 - 1 (absent: 0, as in tokens issued before epochs existed). A password change
  raises the user's epoch; each service refuses a token whose epoch is below the user's
  (the auth service from its users table, the others from the account feed). Epochs, not
  an `iat` floor: `iat` is whole seconds, so a floor cannot tell a token issued just before
  a change from one issued just after it in the same second; an epoch can.

Each service maps `TokenRejectedError` to its own domain error; what else the key lookup raises
(the auth service unreachable) passes through untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ALGORITHM = "EdDSA"
TOKEN_TYPE = "at+jwt"  # noqa: S105 - the JWT typ header issuers write, not a secret
ACCEPTED_TYPES = frozenset({TOKEN_TYPE, "application/at+jwt"})
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti"]
EPOCH_CLAIM = "tep"
LEEWAY_SECONDS = 10
MAX_USER_ID = 2**31 - 1

# The public key a kid names, or None when the issuer publishes no such kid.
KeyLookup = Callable[[str], Awaitable[Ed25519PublicKey | None]]


class TokenRejectedError(Exception):
    """A token the rule refuses; `reason` is for logs and tests, never for a client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class VerifiedToken(NamedTuple):
    user_id: int
    valid_until: float  # exp + leeway, in seconds since the epoch: refused from then on
    epoch: int = 0  # the user's token epoch when it was issued (the `tep` claim)


class AccessTokenVerifier:
    """Checks a token against the rule above, looking its kid up in `keys`."""

    def __init__(self, keys: KeyLookup, *, issuer: str, audience: str) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience

    async def verify(self, token: str) -> VerifiedToken:
        key = await self._keys(_kid(token))
        if key is None:
            raise TokenRejectedError("unknown kid")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
                leeway=LEEWAY_SECONDS,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as exc:
            raise TokenRejectedError(type(exc).__name__) from exc
        # pyjwt compares int(exp): the same cut-off here keeps caches agreeing with it.
        valid_until = int(claims["exp"]) + LEEWAY_SECONDS
        return VerifiedToken(_subject(claims), valid_until, _epoch(claims))


def _kid(token: str) -> str:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenRejectedError("malformed") from exc
    if header.get("alg") != ALGORITHM:
        raise TokenRejectedError("algorithm")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in ACCEPTED_TYPES:
        raise TokenRejectedError("not an access token")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise TokenRejectedError("no kid")
    return kid


def _epoch(claims: Mapping[str, Any]) -> int:
    epoch = claims.get(EPOCH_CLAIM, 0)
    # bool is an int in Python, never in JSON's sense of a number here.
    if not isinstance(epoch, int) or isinstance(epoch, bool) or not 0 <= epoch <= MAX_USER_ID:
        raise TokenRejectedError("epoch")
    return epoch


def _subject(claims: Mapping[str, Any]) -> int:
    sub = claims["sub"]
    # The length bound also keeps int() clear of its 4300-digit limit (a ValueError).
    if not isinstance(sub, str) or not sub.isascii() or not sub.isdigit() or len(sub) > 10:
        raise TokenRejectedError("subject")
    user_id = int(sub)
    if not 0 < user_id <= MAX_USER_ID:
        raise TokenRejectedError("subject")
    return user_id
