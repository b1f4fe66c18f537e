"""Local token verification: pinned algorithm, required claims, cached and throttled keys."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from article_service.auth_client import PublicKeyCache, TokenVerifier
from article_service.errors import AuthUnavailableError, NotAuthenticatedError

KID = "key-1"
KEY = Ed25519PrivateKey.generate()


class Source:
    """A key source that counts its fetches and can be made to fail."""

    def __init__(self) -> None:
        self.keys = {KID: KEY.public_key()}
        self.fetches = 0
        self.down = False

    async def __call__(self):
        self.fetches += 1
        if self.down:
            raise AuthUnavailableError
        return dict(self.keys)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def source() -> Source:
    return Source()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(source, clock) -> TokenVerifier:
    cache = PublicKeyCache(source, min_refresh_seconds=5, clock=clock)
    return TokenVerifier(cache, issuer="blog-auth", audience="blog")


def _token(
    key: Ed25519PrivateKey = KEY,
    kid: str = KID,
    algorithm: str = "EdDSA",
    typ: str = "at+jwt",
    **overrides: Any,
) -> str:
    now = int(time.time())
    claims = {
        "sub": "42",
        "iat": now,
        "exp": now + 600,
        "iss": "blog-auth",
        "aud": "blog",
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid, "typ": typ})


async def test_a_valid_token_gives_its_user_id(verifier):
    assert await verifier.user_id(_token()) == 42


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": int(time.time()) - 60},
        {"iss": "someone-else"},
        {"aud": "another-app"},
        {"sub": None},
        {"exp": None},
        {"iat": None},
        {"sub": "not-a-number"},
        {"sub": "0"},
        {"typ": "JWT"},
    ],
)
async def test_a_token_with_bad_claims_is_refused(verifier, overrides):
    with pytest.raises(NotAuthenticatedError):
        await verifier.user_id(_token(**overrides))


async def test_a_token_signed_by_another_key_under_a_known_kid_is_refused(verifier):
    with pytest.raises(NotAuthenticatedError):
        await verifier.user_id(_token(key=Ed25519PrivateKey.generate()))


async def test_the_algorithm_is_pinned_against_none_and_hmac(verifier):
    no_key: Any = None  # "none" signs with no key; the stubs do not allow for it
    unsigned = jwt.encode({"sub": "42"}, no_key, algorithm="none", headers={"kid": KID})
    hmac = jwt.encode({"sub": "42"}, "secret", algorithm="HS256", headers={"kid": KID})
    for token in (unsigned, hmac, "garbage", "a.b.c", ""):
        with pytest.raises(NotAuthenticatedError, match=r"^Could not validate credentials$"):
            await verifier.user_id(token)


async def test_keys_are_fetched_once_and_cached(verifier, source):
    await verifier.user_id(_token())
    await verifier.user_id(_token())
    assert source.fetches == 1


async def test_an_unknown_kid_refreshes_the_keys_at_most_every_few_seconds(verifier, source, clock):
    await verifier.user_id(_token())
    for _ in range(3):
        with pytest.raises(NotAuthenticatedError):
            await verifier.user_id(_token(kid="forged"))
    assert source.fetches == 1  # too soon after the first fetch
    clock.now += 6
    with pytest.raises(NotAuthenticatedError):
        await verifier.user_id(_token(kid="forged"))
    assert source.fetches == 2


async def test_a_rotated_in_key_is_picked_up_on_its_first_token(verifier, source, clock):
    await verifier.user_id(_token())
    new_key = Ed25519PrivateKey.generate()
    source.keys["key-2"] = new_key.public_key()
    clock.now += 6
    assert await verifier.user_id(_token(key=new_key, kid="key-2")) == 42
    assert await verifier.user_id(_token()) == 42  # the old key still verifies


async def test_an_unreachable_auth_service_is_unavailable_not_unauthenticated(verifier, source):
    source.down = True
    with pytest.raises(AuthUnavailableError):
        await verifier.user_id(_token())


async def test_unknown_kids_are_unavailable_while_the_keys_cannot_be_fetched(
    verifier, source, clock
):
    # A worker started while auth is down has no keys: a valid token is not "bad", auth is
    # away; it must answer UNAVAILABLE (retry) and never UNAUTHENTICATED (log in again).
    source.down = True
    for _ in range(3):
        with pytest.raises(AuthUnavailableError):
            await verifier.user_id(_token())
    assert source.fetches == 1  # still rate-limited
    source.down = False
    clock.now += 1  # after a failure, the next fetch comes sooner than min_refresh_seconds
    assert await verifier.user_id(_token()) == 42
    assert source.fetches == 2
    with pytest.raises(NotAuthenticatedError):  # auth answered: an unknown kid is refused
        await verifier.user_id(_token(kid="forged"))


def _cached_verifier(
    source: Source, refused: set[int], wall: Clock, size: int = 2
) -> TokenVerifier:
    keys = PublicKeyCache(source, min_refresh_seconds=5)
    return TokenVerifier(
        keys, issuer="blog-auth", audience="blog", refused=refused, cache_size=size, clock=wall
    )


async def test_a_verified_token_is_remembered_until_it_expires(source, monkeypatch):
    wall = Clock()
    wall.now = time.time()
    verifier = _cached_verifier(source, set(), wall)
    token = _token(exp=int(wall.now) + 60)
    assert await verifier.user_id(token) == 42
    calls = 0
    real_decode = jwt.decode

    def counting_decode(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting_decode)
    assert await verifier.user_id(token) == 42
    assert calls == 0  # answered from the cache, no signature check
    wall.now += 61  # past exp but within the leeway: still valid, still from the cache
    assert await verifier.user_id(token) == 42
    assert calls == 0
    wall.now += 10  # past exp + leeway by the cache's clock: not answered from the cache
    assert await verifier.user_id(token) == 42  # (pyjwt's own clock is still before exp)
    assert calls == 1


async def test_a_remembered_token_of_a_deleted_user_is_refused(source):
    refused: set[int] = set()
    verifier = TokenVerifier(
        PublicKeyCache(source, min_refresh_seconds=5),
        issuer="blog-auth",
        audience="blog",
        refused=refused,
    )
    token = _token()
    assert await verifier.user_id(token) == 42
    refused.add(42)
    with pytest.raises(NotAuthenticatedError):
        await verifier.user_id(token)


async def test_the_token_cache_is_bounded(source):
    verifier = TokenVerifier(
        PublicKeyCache(source, min_refresh_seconds=5),
        issuer="blog-auth",
        audience="blog",
        cache_size=2,
    )
    for _ in range(5):
        assert await verifier.user_id(_token()) == 42
    assert len(verifier._verified) == 2  # the bound is the point
