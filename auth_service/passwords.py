"""bcrypt hashing off the event loop, on a pool of its own sized to the cores (bcrypt releases
the GIL, so the threads run in parallel and the loop keeps answering, health checks included).

A flood of logins queues at most `max_waiting` checks; beyond that the call is shed at once
with PasswordWorkBusyError rather than waiting past its deadline.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import bcrypt

from auth_service.errors import PasswordWorkBusyError

_BCRYPT_MAX_BYTES = 72
_T = TypeVar("_T")


class PasswordHasher:
    """Hashes and checks passwords; unknown users are checked against a dummy hash of equal cost."""

    def __init__(self, rounds: int, dummy_hash: bytes, threads: int, max_waiting: int) -> None:
        self._rounds = rounds
        self._dummy_hash = dummy_hash
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="bcrypt")
        self._threads = threads
        self._limit = threads + max_waiting
        self._in_progress = 0

    @classmethod
    async def create(cls, rounds: int, threads: int = 0, max_waiting: int = 64) -> PasswordHasher:
        """`threads` 0 means one per core."""
        threads = threads or os.cpu_count() or 1
        salt = bcrypt.gensalt(rounds)
        dummy = await asyncio.to_thread(bcrypt.hashpw, b"not-a-real-password", salt)
        return cls(rounds, dummy, threads, max_waiting)

    def in_progress(self) -> int:
        """Checks hashing now or waiting for a thread (what the metrics sample)."""
        return self._in_progress

    def waiting(self) -> int:
        """Checks queued for a thread; at `max_waiting` more are shed."""
        return max(0, self._in_progress - self._threads)

    async def _run(self, work: Callable[[], _T]) -> _T:
        if self._in_progress >= self._limit:
            raise PasswordWorkBusyError
        self._in_progress += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, work)
        finally:
            self._in_progress -= 1

    async def hash(self, password: str) -> str:
        salt = bcrypt.gensalt(self._rounds)
        raw = password.encode("utf-8")
        hashed = await self._run(lambda: bcrypt.hashpw(raw, salt))
        return hashed.decode("ascii")

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """Check `password`; with no hash (unknown user) spend the same time and say no."""
        raw = password.encode("utf-8")
        # Over 72 bytes was never accepted at registration: same cost, always refused.
        usable = password_hash is not None and len(raw) <= _BCRYPT_MAX_BYTES
        target = password_hash.encode("ascii") if usable and password_hash else self._dummy_hash
        ok = await self._run(lambda: bcrypt.checkpw(raw[:_BCRYPT_MAX_BYTES], target))
        return ok and usable
