"""Access tokens: round trip, and every forgery or misuse the verifier must refuse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest

from auth_service import keys
from auth_service.errors import InvalidTokenError
from auth_service.keys import KeyRing
from auth_service.tokens import TokenCodec


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**override: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims = {
        "sub": "7",
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "iss": "blog-auth",
        "aud": "blog",
        "jti": "x",
    }
    claims.update(override)
    return claims


def _sign(keyring: KeyRing, claims: dict[str, Any], **header: Any) -> str:
    headers = {"kid": keyring.active_kid, "typ": "at+jwt", **header}
    return jwt.encode(claims, keyring.signing_key, "EdDSA", headers=headers)


async def test_issued_token_round_trips_with_the_documented_header(codec: TokenCodec) -> None:
    issued = codec.issue(42)
    header = jwt.get_unverified_header(issued.token)
    assert header["alg"] == "EdDSA"
    assert header["typ"] == "at+jwt"
    assert await codec.verify(issued.token) == 42


async def test_token_signed_by_another_key_with_our_kid_is_refused(
    codec: TokenCodec, keyring: KeyRing, tmp_path: Path
) -> None:
    other = keys.load_keyring(tmp_path / "other", keys.generate_key(tmp_path / "other"))
    forged = jwt.encode(
        _claims(), other.signing_key, "EdDSA", headers={"kid": keyring.active_kid, "typ": "at+jwt"}
    )
    with pytest.raises(InvalidTokenError):
        await codec.verify(forged)


async def test_unsigned_token_with_alg_none_is_refused(codec: TokenCodec, keyring: KeyRing) -> None:
    header = {"alg": "none", "kid": keyring.active_kid, "typ": "at+jwt"}
    payload = {**_claims(), "iat": 0, "exp": 4102444800}
    token = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}."
    with pytest.raises(InvalidTokenError):
        await codec.verify(token)


async def test_hs256_token_keyed_with_our_public_key_is_refused(
    codec: TokenCodec, keyring: KeyRing
) -> None:
    header = {"alg": "HS256", "kid": keyring.active_kid, "typ": "at+jwt"}
    payload = {**_claims(), "iat": 0, "exp": 4102444800}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    secret = keyring.public_pem(keyring.active_kid).encode()
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidTokenError):
        await codec.verify(f"{signing_input}.{_b64(signature)}")


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"exp": datetime.now(UTC) - timedelta(minutes=1)}, id="expired"),
        pytest.param({"iss": "someone-else"}, id="wrong-issuer"),
        pytest.param({"aud": "another-api"}, id="wrong-audience"),
        pytest.param({"sub": "not-a-number"}, id="bad-subject"),
    ],
)
async def test_token_with_bad_claims_is_refused(
    codec: TokenCodec, keyring: KeyRing, claims: dict[str, Any]
) -> None:
    with pytest.raises(InvalidTokenError):
        await codec.verify(_sign(keyring, _claims(**claims)))


async def test_token_missing_a_required_claim_is_refused(
    codec: TokenCodec, keyring: KeyRing
) -> None:
    claims = _claims()
    del claims["jti"]
    with pytest.raises(InvalidTokenError):
        await codec.verify(_sign(keyring, claims))


@pytest.mark.parametrize("header", [{"kid": "unknown"}, {"typ": "JWT"}])
async def test_token_with_unknown_kid_or_wrong_type_is_refused(
    codec: TokenCodec, keyring: KeyRing, header: dict[str, str]
) -> None:
    with pytest.raises(InvalidTokenError):
        await codec.verify(_sign(keyring, _claims(), **header))


async def test_garbage_is_refused(codec: TokenCodec) -> None:
    with pytest.raises(InvalidTokenError):
        await codec.verify("not.a.token")
