"""The consumer of the auth service's account feed (AuthService.WatchUserEvents).

It streams events after its cursor and applies each in one transaction together with
moving the cursor (operations.apply_user_event), so delivery is at least once and a
replay changes nothing. One consumer runs per database: the worker holding a PostgreSQL
advisory lock; the others try again every few seconds. When the auth service is away it
reconnects with exponential backoff; nothing here ever stops the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
from blog.auth.v1 import auth_pb2, auth_pb2_grpc
from opentelemetry import trace

from article_service import operations
from article_service.db.lock import HeldLock
from article_service.models import UserEvent, UserEventKind
from article_service.operations import UnitOfWork
from svckit.cancellation import stop_if_cancelled

log = logging.getLogger("article_service.user_feed")

CONSUMER = "auth.user_events"  # this consumer's row in event_cursor
LOCK_KEY = int.from_bytes(b"art-feed", "big") & 0x7FFF_FFFF_FFFF_FFFF
_KINDS = {
    auth_pb2.USER_EVENT_KIND_CREATED: UserEventKind.CREATED,
    auth_pb2.USER_EVENT_KIND_DELETED: UserEventKind.DELETED,
    auth_pb2.USER_EVENT_KIND_RENAMED: UserEventKind.RENAMED,
    auth_pb2.USER_EVENT_KIND_TOKENS_REVOKED: UserEventKind.TOKENS_REVOKED,
}

TryLock = Callable[[], AbstractAsyncContextManager[HeldLock]]
OnDeleted = Callable[[int, int], None]
OnTokensRevoked = Callable[[int, int], None]  # user id, the new token epoch


@dataclass(frozen=True)
class Lag:
    """How far behind the feed this process's consumer is."""

    active: bool  # this process holds the lock and is connected to the feed
    cursor: int  # seq of the last event applied
    head_seq: int  # newest seq the feed has reported
    events_behind: int
    seconds_behind: float  # now - occurred_at of the last applied event; 0 when caught up


@dataclass(frozen=True)
class FeedTiming:
    lock_retry_seconds: float = 3.0
    backoff_initial_seconds: float = 0.2
    backoff_max_seconds: float = 5.0
    lag_log_seconds: float = 30.0


class UserFeedConsumer:
    def __init__(
        self,
        channel: grpc.aio.Channel,
        uow: Callable[[], UnitOfWork],
        try_lock: TryLock,
        *,
        on_deleted: OnDeleted,
        on_tokens_revoked: OnTokensRevoked = lambda user_id, epoch: None,
        timing: FeedTiming = FeedTiming(),
        tracer: trace.Tracer | None = None,
    ) -> None:
        self._stub = auth_pb2_grpc.AuthServiceStub(channel)
        # A span per applied event (its statements are its children); no-op when tracing is off.
        self._tracer = tracer or trace.NoOpTracer()
        self._uow = uow
        self._try_lock = try_lock
        self._on_deleted = on_deleted
        self._on_tokens_revoked = on_tokens_revoked
        self._timing = timing
        self._active = False
        self._cursor = 0
        self._head = 0
        self._last_occurred: datetime | None = None
        self.applied = 0  # events applied by this process (replays skipped by the cursor excluded)

    def lag(self, now: datetime | None = None) -> Lag:
        behind = max(0, self._head - self._cursor)
        seconds = 0.0
        if behind and self._last_occurred is not None:
            seconds = max(0.0, ((now or datetime.now(UTC)) - self._last_occurred).total_seconds())
        return Lag(self._active, self._cursor, self._head, behind, seconds)

    async def run(self) -> None:
        """Consume until cancelled, logging the lag every `lag_log_seconds`."""
        reporter = asyncio.create_task(self._report_lag())
        try:
            await self._consume_forever()
        finally:
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter

    async def _consume_forever(self) -> None:
        while True:
            stop_if_cancelled()
            try:
                async with self._try_lock() as lock:
                    if lock.held:
                        log.info("feed consumer holds the lock")
                        await self._stream_while_held(lock)
            except Exception as exc:  # noqa: BLE001 - logged and retried: never stop the server
                log.warning("feed consumer failed", extra={"error": repr(exc)})
            finally:
                self._active = False
            await asyncio.sleep(self._timing.lock_retry_seconds)

    async def _stream_while_held(self, lock: HeldLock) -> None:
        backoff = self._timing.backoff_initial_seconds
        while await lock.alive():
            stop_if_cancelled()
            self._cursor = await operations.read_cursor(self._uow(), CONSUMER)
            self._head = max(self._head, self._cursor)
            try:
                async for event, head in self._events(self._cursor):
                    await self._apply(event, head)
                    backoff = self._timing.backoff_initial_seconds
            except grpc.aio.AioRpcError as exc:
                log.warning("feed unavailable", extra={"code": exc.code().name})
            finally:
                self._active = False
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._timing.backoff_max_seconds)

    async def _events(self, after: int) -> AsyncIterator[tuple[UserEvent, int]]:
        call = self._stub.WatchUserEvents(auth_pb2.WatchUserEventsRequest(after_seq=after))
        self._active = True
        try:
            async for message in call:
                yield _decode(message), message.head_seq
        finally:
            call.cancel()

    async def _apply(self, event: UserEvent, head: int) -> None:
        attributes = {"blog.event.seq": event.seq, "blog.event.kind": event.kind.value}
        with self._tracer.start_as_current_span(
            "apply user event", kind=trace.SpanKind.CONSUMER, attributes=attributes
        ):
            if await operations.apply_user_event(self._uow(), CONSUMER, event):
                self.applied += 1
        if event.kind is UserEventKind.DELETED:
            self._on_deleted(event.user_id, event.seq)
        elif event.kind is UserEventKind.TOKENS_REVOKED:
            self._on_tokens_revoked(event.user_id, event.token_epoch)
        self._cursor, self._head = event.seq, max(head, event.seq)
        self._last_occurred = event.occurred_at

    async def _report_lag(self) -> None:
        while True:
            await asyncio.sleep(self._timing.lag_log_seconds)
            lag = self.lag()
            log.info(
                "feed lag",
                extra={
                    "active": lag.active,
                    "cursor": lag.cursor,
                    "head_seq": lag.head_seq,
                    "events_behind": lag.events_behind,
                    "seconds_behind": round(lag.seconds_behind, 3),
                },
            )


def _decode(message: auth_pb2.UserEvent) -> UserEvent:
    return UserEvent(
        seq=message.seq,
        kind=_KINDS.get(message.kind, UserEventKind.UNKNOWN),
        user_id=message.user_id,
        username=message.username,
        occurred_at=message.occurred_at.ToDatetime(UTC),
        token_epoch=message.token_epoch,
    )
