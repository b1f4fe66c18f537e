"""bcrypt hashing off the event loop (bcrypt releases the GIL, so threads run in parallel)."""

from __future__ import annotations

import asyncio

import bcrypt

_BCRYPT_MAX_BYTES = 72


class PasswordHasher:
    """Hashes and checks passwords; unknown users are checked against a dummy hash of equal cost."""

    def __init__(self, rounds: int, dummy_hash: bytes) -> None:
        self._rounds = rounds
        self._dummy_hash = dummy_hash

    @classmethod
    async def create(cls, rounds: int) -> PasswordHasher:
        salt = bcrypt.gensalt(rounds)
        dummy = await asyncio.to_thread(bcrypt.hashpw, b"not-a-real-password", salt)
        return cls(rounds, dummy)

    async def hash(self, password: str) -> str:
        salt = bcrypt.gensalt(self._rounds)
        hashed = await asyncio.to_thread(bcrypt.hashpw, password.encode("utf-8"), salt)
        return hashed.decode("ascii")

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """Check `password`; with no hash (unknown user) spend the same time and say no."""
        raw = password.encode("utf-8")
        # Over 72 bytes was never accepted at registration: same cost, always refused.
        usable = password_hash is not None and len(raw) <= _BCRYPT_MAX_BYTES
        target = password_hash.encode("ascii") if usable and password_hash else self._dummy_hash
        ok = await asyncio.to_thread(bcrypt.checkpw, raw[:_BCRYPT_MAX_BYTES], target)
        return ok and usable
