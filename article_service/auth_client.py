"""Access tokens, verified locally with the auth service's public keys.

The keys are fetched over gRPC (ListPublicKeys, with a deadline) and cached. A token
whose `kid` is not in the cache triggers a refresh, at most once every
`min_refresh_seconds`, so a flood of forged kids cannot hammer the auth service. The
check is svckit.tokens' rule (algorithm pinned to EdDSA, `typ`, one leeway), the same as
the auth service's; a kid is only ever looked up in the fetched set.

While the auth service is unreachable, keys already fetched keep verifying. A kid the
cache does not know then answers UNAVAILABLE, not UNAUTHENTICATED: it may be a real key
(a worker started during the outage has none yet), and a client must not throw a valid
token away because auth is down. After a failed fetch the next one may come sooner
(`retry_after_failure_seconds`), so service resumes quickly once auth is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Container, Mapping

import grpc
from blog.auth.v1 import auth_pb2, auth_pb2_grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from article_service.errors import AuthUnavailableError, NotAuthenticatedError
from svckit.tokens import ALGORITHM, AccessTokenVerifier, TokenRejectedError, VerifiedToken

log = logging.getLogger("article_service.auth_client")

KeySource = Callable[[], Awaitable[Mapping[str, Ed25519PublicKey]]]


def grpc_key_source(channel: grpc.aio.Channel, timeout: float) -> KeySource:
    """Fetch the auth service's EdDSA keys; AuthUnavailableError if it does not answer."""
    stub = auth_pb2_grpc.AuthServiceStub(channel)

    async def fetch() -> Mapping[str, Ed25519PublicKey]:
        try:
            # Waits out a reconnect (auth restarting) up to the deadline, not failing at once.
            reply = await stub.ListPublicKeys(
                auth_pb2.ListPublicKeysRequest(), timeout=timeout, wait_for_ready=True
            )
        except grpc.aio.AioRpcError as exc:
            log.warning("public keys not fetched", extra={"code": exc.code().name})
            raise AuthUnavailableError from exc
        keys: dict[str, Ed25519PublicKey] = {}
        for item in reply.keys:
            if item.algorithm != ALGORITHM:
                continue  # a key for another algorithm never verifies our tokens
            key = load_pem_public_key(item.public_key_pem.encode())
            if isinstance(key, Ed25519PublicKey):
                keys[item.kid] = key
        return keys

    return fetch


class PublicKeyCache:
    """The last fetched key set; refreshed on an unknown kid, rate-limited."""

    def __init__(
        self,
        source: KeySource,
        *,
        min_refresh_seconds: float,
        retry_after_failure_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._min_refresh = min_refresh_seconds
        self._retry_after_failure = min(retry_after_failure_seconds, min_refresh_seconds)
        self._clock = clock
        self._keys: Mapping[str, Ed25519PublicKey] = {}
        self._fetched_at: float | None = None
        self._last_failed = False
        self._lock = asyncio.Lock()

    async def get(self, kid: str) -> Ed25519PublicKey | None:
        """The key, or None for a kid the auth service does not publish; AuthUnavailableError
        when the kid is unknown and the auth service could not be asked."""
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:  # concurrent unknown kids share one fetch
            key = self._keys.get(kid)
            if key is None and self._may_refresh():
                self._fetched_at = self._clock()
                try:
                    self._keys = await self._source()
                except AuthUnavailableError:
                    self._last_failed = True
                    raise
                self._last_failed = False
                key = self._keys.get(kid)
            if key is None and self._last_failed:
                raise AuthUnavailableError  # unknown only because auth could not be asked
        return key

    def _may_refresh(self) -> bool:
        if self._fetched_at is None:
            return True
        wait = self._retry_after_failure if self._last_failed else self._min_refresh
        return self._clock() - self._fetched_at >= wait


class TokenVerifier:
    """Turn a bearer token into the user id it was issued to, or raise NotAuthenticatedError.

    The check itself is svckit.tokens' rule, the one the auth service applies too. Tokens
    of users in `refused` (deleted accounts), and tokens whose epoch is below the user's
    `epoch_floor` (issued before a password change), are refused like any other bad token. A
    verified token is remembered (up to `cache_size`, least recently used first out) until
    the rule would refuse it (`exp` plus the leeway), so a client reusing its token costs
    one signature check, not one per call; `refused`, the epoch floor and the expiry are
    still checked on every call.
    """

    def __init__(
        self,
        keys: PublicKeyCache,
        *,
        issuer: str,
        audience: str,
        refused: Container[int] = frozenset(),
        epoch_floor: Callable[[int], int] = lambda user_id: 0,
        cache_size: int = 4096,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._rule = AccessTokenVerifier(keys.get, issuer=issuer, audience=audience)
        self._refused = refused
        self._epoch_floor = epoch_floor
        self._cache_size = cache_size
        self._clock = clock
        self._verified: OrderedDict[str, VerifiedToken] = OrderedDict()

    async def user_id(self, token: str) -> int:
        known = self._verified.get(token)
        if known is not None:
            if self._clock() < known.valid_until:
                self._verified.move_to_end(token)
                self._check_user(known)
                return known.user_id
            del self._verified[token]
        verified = await self._verify(token)
        if self._cache_size > 0:
            self._verified[token] = verified
            if len(self._verified) > self._cache_size:
                self._verified.popitem(last=False)
        return verified.user_id

    async def _verify(self, token: str) -> VerifiedToken:
        try:
            verified = await self._rule.verify(token)  # AuthUnavailableError passes through
        except TokenRejectedError as exc:
            raise NotAuthenticatedError(exc.reason) from exc
        self._check_user(verified)
        return verified

    def _check_user(self, verified: VerifiedToken) -> None:
        if verified.user_id in self._refused:
            raise NotAuthenticatedError("deleted user")
        if verified.epoch < self._epoch_floor(verified.user_id):
            raise NotAuthenticatedError("issued before the password changed")
