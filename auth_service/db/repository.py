"""Repositories over the auth tables: domain objects in, domain objects out; they never commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service.db.tables import (
    EMAIL_INDEX,
    OUTBOX_LOCK,
    REQUEST_ID_INDEX,
    USERNAME_INDEX,
    login_failures,
    user_events,
    users,
)
from auth_service.errors import EmailTakenError, RequestIdUsedError, UsernameTakenError
from auth_service.models import (
    FailureRecord,
    NewUser,
    StoredCredentials,
    ThrottlePolicy,
    User,
    UserEvent,
    UserEventKind,
)

_USER_COLUMNS = (
    users.c.id,
    users.c.email,
    users.c.username,
    users.c.created_at,
    users.c.updated_at,
    users.c.token_epoch,
)


def _user(row: Any) -> User:  # a Row with the _USER_COLUMNS
    return User(row.id, row.email, row.username, row.created_at, row.updated_at, row.token_epoch)


def _raise_taken(detail: str) -> None:
    """The domain error of a unique-index violation on the email or the username."""
    if EMAIL_INDEX in detail:
        raise EmailTakenError from None
    if USERNAME_INDEX in detail:
        raise UsernameTakenError from None


class SqlUserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, new: NewUser) -> User:
        statement = (
            insert(users)
            .values(
                email=new.email,
                username=new.username,
                password_hash=new.password_hash,
                request_id=new.request_id,
            )
            .returning(*_USER_COLUMNS)
        )
        try:
            async with self._session.begin_nested():  # a failed insert must not doom the unit
                row = (await self._session.execute(statement)).one()
        except IntegrityError as exc:
            _raise_taken(str(exc.orig))
            if REQUEST_ID_INDEX in str(exc.orig):
                raise RequestIdUsedError from None
            raise
        return _user(row)

    async def get(self, user_id: int) -> User | None:
        row = (
            await self._session.execute(select(*_USER_COLUMNS).where(users.c.id == user_id))
        ).first()
        return None if row is None else _user(row)

    async def find_by_request_id(self, request_id: uuid.UUID) -> User | None:
        statement = select(*_USER_COLUMNS).where(users.c.request_id == request_id)
        row = (await self._session.execute(statement)).first()
        return None if row is None else _user(row)

    async def get_many(self, user_ids: Sequence[int]) -> list[User]:
        statement = select(*_USER_COLUMNS).where(users.c.id.in_(user_ids)).order_by(users.c.id)
        return [_user(row) for row in await self._session.execute(statement)]

    async def delete(self, user_id: int) -> User | None:
        """Delete the user; the deleted user, or None if there was none."""
        statement = delete(users).where(users.c.id == user_id).returning(*_USER_COLUMNS)
        row = (await self._session.execute(statement)).first()
        return None if row is None else _user(row)

    async def update(
        self, user_id: int, username: str | None, email: str | None
    ) -> tuple[User, User] | None:
        """Change the fields given (None: unchanged); (before, after), or None with no user.

        The row is locked first, so `before` is what this change replaced."""
        locked = select(*_USER_COLUMNS).where(users.c.id == user_id).with_for_update()
        row = (await self._session.execute(locked)).first()
        if row is None:
            return None
        values = {"username": username, "email": email}
        changes = {name: value for name, value in values.items() if value is not None}
        if not changes:
            return _user(row), _user(row)
        statement = (
            update(users)
            .where(users.c.id == user_id)
            .values(**changes, updated_at=func.now())
            .returning(*_USER_COLUMNS)
        )
        try:
            async with self._session.begin_nested():  # a taken name must not doom the unit
                updated = (await self._session.execute(statement)).one()
        except IntegrityError as exc:
            _raise_taken(str(exc.orig))
            raise
        return _user(row), _user(updated)

    async def credentials_of(self, user_id: int) -> StoredCredentials | None:
        statement = select(*_USER_COLUMNS, users.c.password_hash).where(users.c.id == user_id)
        row = (await self._session.execute(statement)).first()
        return None if row is None else StoredCredentials(_user(row), row.password_hash)

    async def change_password(self, user_id: int, password_hash: str, epoch: int) -> User | None:
        """Store the new hash and raise the token epoch, only if the epoch is still `epoch`
        (else None: another change came first, or the user is gone)."""
        statement = (
            update(users)
            .where(users.c.id == user_id, users.c.token_epoch == epoch)
            .values(
                password_hash=password_hash,
                token_epoch=users.c.token_epoch + 1,
                updated_at=func.now(),
            )
            .returning(*_USER_COLUMNS)
        )
        row = (await self._session.execute(statement)).first()
        return None if row is None else _user(row)

    async def find_credentials(self, name: str) -> StoredCredentials | None:
        """The account whose username or email is `name`, regardless of case."""
        key = func.lower(name)
        statement = select(*_USER_COLUMNS, users.c.password_hash).where(
            or_(func.lower(users.c.username) == key, func.lower(users.c.email) == key)
        )
        # Usernames cannot contain '@' and emails must, so at most one row matches.
        row = (await self._session.execute(statement.limit(1))).first()
        if row is None:
            return None
        return StoredCredentials(_user(row), row.password_hash)


class SqlLoginFailureRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, account: str) -> FailureRecord | None:
        statement = select(login_failures.c.failures, login_failures.c.window_started_at).where(
            login_failures.c.account == account
        )
        row = (await self._session.execute(statement)).first()
        return None if row is None else FailureRecord(row.failures, row.window_started_at)

    async def record_failure(self, account: str, now: datetime, policy: ThrottlePolicy) -> None:
        """Count one failure atomically; a window that has ended starts over at this one."""
        statement = insert(login_failures).values(
            account=account, failures=1, window_started_at=now
        )
        expired = login_failures.c.window_started_at <= now - policy.window
        statement = statement.on_conflict_do_update(
            index_elements=[login_failures.c.account],
            set_={
                "failures": case((expired, 1), else_=login_failures.c.failures + 1),
                "window_started_at": case((expired, now), else_=login_failures.c.window_started_at),
            },
        )
        await self._session.execute(statement)

    async def clear(self, account: str) -> None:
        await self._session.execute(
            delete(login_failures).where(login_failures.c.account == account)
        )


class SqlUserEventRepository:
    """The outbox. Appends serialise on a transaction-scoped advisory lock: an event's seq is
    taken only once every earlier writer has committed, so a reader that has seen seq N will
    never later find a smaller seq appear (which it would skip forever)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def append(self, kind: UserEventKind, user: User) -> None:
        lock = text("SELECT pg_advisory_xact_lock(:key)")
        await self._session.execute(lock, {"key": OUTBOX_LOCK})
        await self._session.execute(
            insert(user_events).values(
                kind=kind.value,
                user_id=user.id,
                username=user.username,
                token_epoch=user.token_epoch,
            )
        )

    async def after(self, seq: int, limit: int) -> list[UserEvent]:
        statement = (
            select(user_events).where(user_events.c.seq > seq).order_by(user_events.c.seq)
        ).limit(limit)
        return [
            UserEvent(
                row.seq,
                UserEventKind(row.kind),
                row.user_id,
                row.username,
                row.occurred_at,
                row.token_epoch,
            )
            for row in await self._session.execute(statement)
        ]

    async def head(self) -> int:
        """The greatest seq in the feed (0 when empty)."""
        found = await self._session.scalar(select(func.max(user_events.c.seq)))
        return int(found or 0)
