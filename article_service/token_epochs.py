"""Token epochs of users whose password changed, known to every worker process without a
call to the auth service (the way deleted_users.DeletedUsers knows deletions).

Each process keeps user id -> least token epoch accepted in memory: loaded at start, then
refreshed every second or so with a cheap indexed query for epochs raised after the last
one it saw. The process that applies a "tokens_revoked" event raises it at once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from svckit.cancellation import refresh_forever

log = logging.getLogger("article_service.token_epochs")

# Epochs raised with a seq greater than the argument: (user_id, epoch, seq) in seq order.
Fetch = Callable[[int], Awaitable[list[tuple[int, int, int]]]]


class TokenEpochs:
    def __init__(self, fetch: Fetch, *, interval: float) -> None:
        self._fetch = fetch
        self._interval = interval
        self._floors: dict[int, int] = {}
        self._seq = 0

    def floor(self, user_id: int) -> int:
        """The least token epoch accepted for the user (0: every token)."""
        return self._floors.get(user_id, 0)

    def __len__(self) -> int:
        return len(self._floors)

    def raise_to(self, user_id: int, epoch: int) -> None:
        self._floors[user_id] = max(epoch, self._floors.get(user_id, 0))

    async def refresh(self) -> None:
        for user_id, epoch, seq in await self._fetch(self._seq):
            self.raise_to(user_id, epoch)
            self._seq = max(self._seq, seq)

    async def run(self) -> None:
        """Refresh forever; a failed refresh is logged once and retried."""
        await refresh_forever(self.refresh, interval=self._interval, what="token epochs", log=log)
