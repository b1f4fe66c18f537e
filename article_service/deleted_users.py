"""Deleted users, known to every worker process without a call to the auth service.

Each process keeps the ids in memory: loaded at start, then refreshed every second or so
with a cheap indexed query for deletions recorded after the last one it saw. The process
that applies a deletion adds it at once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from svckit.cancellation import refresh_forever

log = logging.getLogger("article_service.deleted_users")


# Deletions recorded with a seq greater than the argument: (user_id, seq) in seq order.
Fetch = Callable[[int], Awaitable[list[tuple[int, int]]]]


class DeletedUsers:
    def __init__(self, fetch: Fetch, *, interval: float) -> None:
        self._fetch = fetch
        self._interval = interval
        self._ids: set[int] = set()
        self._seq = 0

    def __contains__(self, user_id: object) -> bool:
        return user_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, user_id: int, seq: int) -> None:
        self._ids.add(user_id)

    async def refresh(self) -> None:
        for user_id, seq in await self._fetch(self._seq):
            self._ids.add(user_id)
            self._seq = max(self._seq, seq)

    async def run(self) -> None:
        """Refresh forever; a failed refresh is logged once and retried."""
        await refresh_forever(self.refresh, interval=self._interval, what="deleted users", log=log)
