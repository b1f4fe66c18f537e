"""The one access-token rule: its edges, and the same verdict from both services' verifiers."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from article_service.auth_client import PublicKeyCache, TokenVerifier
from article_service.errors import NotAuthenticatedError
from auth_service import keys
from auth_service.errors import InvalidTokenError
from auth_service.keys import KeyRing
from auth_service.tokens import TokenCodec
from svckit.tokens import LEEWAY_SECONDS, AccessTokenVerifier, TokenRejectedError

ISSUER, AUDIENCE = "blog-auth", "blog"


@pytest.fixture
def keyring(tmp_path: Path) -> KeyRing:
    keys.generate_key(tmp_path)
    return keys.load_keyring(tmp_path, None)


def _sign(keyring: KeyRing, *, header: dict[str, Any] | None = None, **claims: Any) -> str:
    now = int(time.time())
    body = {"sub": "7", "iat": now, "exp": now + 600, "iss": ISSUER, "aud": AUDIENCE, "jti": "j"}
    body.update(claims)
    head = {"kid": keyring.active_kid, "typ": "at+jwt", **(header or {})}
    head = {name: value for name, value in head.items() if value is not None}
    return jwt.encode(body, keyring.signing_key, "EdDSA", headers=head)


class Lookups:
    """A key lookup over the keyring that counts what it is asked."""

    def __init__(self, keyring: KeyRing) -> None:
        self.keyring = keyring
        self.asked: list[str] = []

    async def __call__(self, kid: str) -> Ed25519PublicKey | None:
        self.asked.append(kid)
        return self.keyring.public_keys.get(kid)


def test_the_leeway_is_ten_seconds() -> None:
    assert LEEWAY_SECONDS == 10  # the auth service's long-standing value; see the docstring


async def test_a_verified_token_is_valid_until_exp_plus_the_leeway(keyring: KeyRing) -> None:
    exp = int(time.time()) + 60
    verifier = AccessTokenVerifier(Lookups(keyring), issuer=ISSUER, audience=AUDIENCE)
    verified = await verifier.verify(_sign(keyring, exp=exp))
    assert verified == (7, exp + LEEWAY_SECONDS, 0)  # no `tep` claim: epoch 0


@pytest.mark.parametrize(
    ("typ", "accepted"),
    [
        ("at+jwt", True),
        ("application/at+jwt", True),
        ("AT+JWT", True),  # media types are case-insensitive
        (None, False),
        ("JWT", False),
        ("id+jwt", False),
    ],
)
async def test_the_typ_rule(keyring: KeyRing, typ: str | None, accepted: bool) -> None:
    verifier = AccessTokenVerifier(Lookups(keyring), issuer=ISSUER, audience=AUDIENCE)
    token = _sign(keyring, header={"typ": typ})
    if accepted:
        assert (await verifier.verify(token)).user_id == 7
    else:
        with pytest.raises(TokenRejectedError, match="not an access token"):
            await verifier.verify(token)


@pytest.mark.parametrize(("ahead", "accepted"), [(5, True), (15, False)])
@pytest.mark.parametrize("claim", ["nbf", "iat"])
async def test_a_token_from_the_near_future_is_accepted_within_the_leeway(
    keyring: KeyRing, claim: str, ahead: int, accepted: bool
) -> None:
    verifier = AccessTokenVerifier(Lookups(keyring), issuer=ISSUER, audience=AUDIENCE)
    claims: dict[str, Any] = {claim: int(time.time()) + ahead}
    token = _sign(keyring, **claims)
    if accepted:
        assert (await verifier.verify(token)).user_id == 7
    else:
        with pytest.raises(TokenRejectedError):
            await verifier.verify(token)


async def test_a_foreign_algorithm_is_refused_before_any_key_lookup(keyring: KeyRing) -> None:
    lookups = Lookups(keyring)
    verifier = AccessTokenVerifier(lookups, issuer=ISSUER, audience=AUDIENCE)
    hmac = jwt.encode({"sub": "7"}, "x" * 32, "HS256", headers={"kid": "new", "typ": "at+jwt"})
    with pytest.raises(TokenRejectedError, match="algorithm"):
        await verifier.verify(hmac)
    assert lookups.asked == []  # a forged header never makes a service fetch keys


@pytest.mark.parametrize("sub", ["0", str(2**31), "1" * 5000, "-1", "७"])
async def test_a_subject_that_is_no_user_id_is_refused(keyring: KeyRing, sub: str) -> None:
    verifier = AccessTokenVerifier(Lookups(keyring), issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(TokenRejectedError, match="subject"):
        await verifier.verify(_sign(keyring, sub=sub))


async def test_the_largest_user_id_is_accepted(keyring: KeyRing) -> None:
    verifier = AccessTokenVerifier(Lookups(keyring), issuer=ISSUER, audience=AUDIENCE)
    assert (await verifier.verify(_sign(keyring, sub=str(2**31 - 1)))).user_id == 2**31 - 1


# --- both services apply it alike ---------------------------------------------------------


async def _auth_verdict(keyring: KeyRing, token: str) -> int | None:
    codec = TokenCodec(keyring, issuer=ISSUER, audience=AUDIENCE, ttl=timedelta(minutes=30))
    try:
        return await codec.verify(token)
    except InvalidTokenError:
        return None


async def _article_verdict(keyring: KeyRing, token: str) -> int | None:
    async def fetch() -> dict[str, Ed25519PublicKey]:
        return dict(keyring.public_keys)

    verifier = TokenVerifier(
        PublicKeyCache(fetch, min_refresh_seconds=5), issuer=ISSUER, audience=AUDIENCE
    )
    try:
        return await verifier.user_id(token)
    except NotAuthenticatedError:
        return None


@pytest.mark.parametrize(
    ("header", "claims", "user_id"),
    [
        pytest.param({}, {}, 7, id="valid"),
        pytest.param({}, {"exp": -5}, 7, id="expired-5s-ago"),
        pytest.param({}, {"exp": -15}, None, id="expired-15s-ago"),
        pytest.param({}, {"nbf": 5}, 7, id="not-before-in-5s"),
        pytest.param({}, {"nbf": 15}, None, id="not-before-in-15s"),
        pytest.param({"typ": None}, {}, None, id="typ-missing"),
        pytest.param({"typ": "JWT"}, {}, None, id="typ-wrong"),
        pytest.param({"typ": "application/at+jwt"}, {}, 7, id="typ-long-form"),
        pytest.param({"kid": "unknown"}, {}, None, id="kid-unknown"),
        pytest.param({}, {"aud": "other"}, None, id="audience-wrong"),
        pytest.param({}, {"sub": "0"}, None, id="subject-zero"),
    ],
)
async def test_both_services_give_the_same_verdict(
    keyring: KeyRing, header: dict[str, Any], claims: dict[str, Any], user_id: int | None
) -> None:
    now = int(time.time())
    signed: dict[str, Any] = {**claims}
    signed.update({name: now + claims[name] for name in ("exp", "nbf") if name in claims})
    token = _sign(keyring, header=header, **signed)
    assert await _auth_verdict(keyring, token) == user_id
    assert await _article_verdict(keyring, token) == user_id


@pytest.mark.parametrize(("tep", "epoch"), [(0, 0), (3, 3), (2**31 - 1, 2**31 - 1)])
async def test_the_token_epoch_claim_is_read(keyring: KeyRing, tep: int, epoch: int) -> None:
    verifier = AccessTokenVerifier(Lookups(keyring), issuer=ISSUER, audience=AUDIENCE)
    assert (await verifier.verify(_sign(keyring, tep=tep))).epoch == epoch


@pytest.mark.parametrize("tep", [-1, 2**31, "3", True, 1.5, None])
async def test_a_malformed_token_epoch_is_refused(keyring: KeyRing, tep: Any) -> None:
    verifier = AccessTokenVerifier(Lookups(keyring), issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(TokenRejectedError):
        await verifier.verify(_sign(keyring, tep=tep))
