"""Fakes for the auth operations: in-memory repositories behind the same protocols."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest

from auth_service import keys
from auth_service.errors import EmailTakenError, RequestIdUsedError, UsernameTakenError
from auth_service.keys import KeyRing
from auth_service.models import (
    FailureRecord,
    NewUser,
    PublicKey,
    StoredCredentials,
    ThrottlePolicy,
    User,
    UserEvent,
    UserEventKind,
)
from auth_service.operations import AuthOperations
from auth_service.passwords import PasswordHasher
from auth_service.sessions import NewRefreshToken, StoredRefreshToken
from auth_service.tokens import TokenCodec

T0 = datetime(2025, 1, 1, tzinfo=UTC)


class FakeUsers:
    def __init__(self) -> None:
        self.rows: dict[int, StoredCredentials] = {}
        self.request_ids: dict[uuid.UUID, int] = {}

    async def add(self, new: NewUser) -> User:
        for row in self.rows.values():
            if row.user.email.lower() == new.email.lower():
                raise EmailTakenError
            if row.user.username.lower() == new.username.lower():
                raise UsernameTakenError
        if new.request_id is not None and new.request_id in self.request_ids:
            raise RequestIdUsedError
        user = User(len(self.rows) + 1, new.email, new.username, T0, T0)
        self.rows[user.id] = StoredCredentials(user, new.password_hash)
        if new.request_id is not None:
            self.request_ids[new.request_id] = user.id
        return user

    async def find_by_request_id(self, request_id: uuid.UUID) -> User | None:
        user_id = self.request_ids.get(request_id)
        return None if user_id is None or user_id not in self.rows else self.rows[user_id].user

    async def get(self, user_id: int) -> User | None:
        row = self.rows.get(user_id)
        return row.user if row else None

    async def get_many(self, user_ids: Sequence[int]) -> list[User]:
        return [self.rows[i].user for i in user_ids if i in self.rows]

    async def delete(self, user_id: int) -> User | None:
        row = self.rows.pop(user_id, None)
        return row.user if row else None

    async def update(
        self, user_id: int, username: str | None, email: str | None
    ) -> tuple[User, User] | None:
        row = self.rows.get(user_id)
        if row is None:
            return None
        for other in self.rows.values():
            if other.user.id == user_id:
                continue
            if email is not None and other.user.email.lower() == email.lower():
                raise EmailTakenError
            if username is not None and other.user.username.lower() == username.lower():
                raise UsernameTakenError
        after = replace(
            row.user,
            username=row.user.username if username is None else username,
            email=row.user.email if email is None else email,
        )
        self.rows[user_id] = replace(row, user=after)
        return row.user, after

    async def credentials_of(self, user_id: int) -> StoredCredentials | None:
        return self.rows.get(user_id)

    async def change_password(self, user_id: int, password_hash: str, epoch: int) -> User | None:
        row = self.rows.get(user_id)
        if row is None or row.user.token_epoch != epoch:
            return None
        user = replace(row.user, token_epoch=epoch + 1)
        self.rows[user_id] = StoredCredentials(user, password_hash)
        return user

    async def find_credentials(self, name: str) -> StoredCredentials | None:
        for row in self.rows.values():
            if name.lower() in (row.user.email.lower(), row.user.username.lower()):
                return row
        return None


class FakeLoginFailures:
    def __init__(self) -> None:
        self.rows: dict[str, FailureRecord] = {}

    async def get(self, account: str) -> FailureRecord | None:
        return self.rows.get(account)

    async def record_failure(self, account: str, now: datetime, policy: ThrottlePolicy) -> None:
        old = self.rows.get(account)
        if old is None or old.window_started_at + policy.window <= now:
            self.rows[account] = FailureRecord(1, now)
        else:
            self.rows[account] = replace(old, failures=old.failures + 1)

    async def clear(self, account: str) -> None:
        self.rows.pop(account, None)


class FakeUserEvents:
    def __init__(self) -> None:
        self.rows: list[UserEvent] = []

    async def append(self, kind: UserEventKind, user: User) -> None:
        event = UserEvent(len(self.rows) + 1, kind, user.id, user.username, T0, user.token_epoch)
        self.rows.append(event)

    async def after(self, seq: int, limit: int) -> list[UserEvent]:
        return [event for event in self.rows if event.seq > seq][:limit]

    async def head(self) -> int:
        return len(self.rows)


class FakeRefreshTokens:
    """Rows by digest; lock() locks nothing (one coroutine at a time in these tests)."""

    def __init__(self) -> None:
        self.rows: dict[bytes, StoredRefreshToken] = {}

    async def add(self, new: NewRefreshToken) -> None:
        row = StoredRefreshToken(
            len(self.rows) + 1, new.user_id, new.family_id, new.expires_at, None, None
        )
        self.rows[new.digest] = row

    async def lock(self, digest: bytes) -> StoredRefreshToken | None:
        return self.rows.get(digest)

    async def mark_rotated(self, token_id: int, now: datetime) -> None:
        for key, row in self.rows.items():
            if row.id == token_id:
                self.rows[key] = replace(row, rotated_at=now)

    async def revoke_family(self, family_id: uuid.UUID, now: datetime) -> None:
        self._revoke(lambda row: row.family_id == family_id, now)

    async def revoke_user(self, user_id: int, now: datetime) -> None:
        self._revoke(lambda row: row.user_id == user_id, now)

    def _revoke(self, which: Callable[[StoredRefreshToken], bool], now: datetime) -> None:
        for key, row in self.rows.items():
            if which(row) and row.revoked_at is None:
                self.rows[key] = replace(row, revoked_at=now)


class FakeUnitOfWork:
    """Keeps committed state only: changes made without commit() are thrown away."""

    def __init__(self) -> None:
        self.users = FakeUsers()
        self.login_failures = FakeLoginFailures()
        self.user_events = FakeUserEvents()
        self.refresh_tokens = FakeRefreshTokens()
        self.commits = 0

    def _state(
        self,
    ) -> tuple[
        dict[int, StoredCredentials],
        dict[str, FailureRecord],
        list[UserEvent],
        dict[bytes, StoredRefreshToken],
    ]:
        return (
            dict(self.users.rows),
            dict(self.login_failures.rows),
            list(self.user_events.rows),
            dict(self.refresh_tokens.rows),
        )

    async def __aenter__(self) -> Self:
        self._saved = self._state()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._saved is not None:
            (
                self.users.rows,
                self.login_failures.rows,
                self.user_events.rows,
                self.refresh_tokens.rows,
            ) = self._saved

    async def commit(self) -> None:
        self.commits += 1
        self._saved = self._state()


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)  # tokens issued "now" must verify against the real time

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="session")
async def hasher() -> PasswordHasher:
    return await PasswordHasher.create(4)  # cheap rounds: these tests check logic, not cost


@pytest.fixture
def keyring(tmp_path: Path) -> KeyRing:
    keys.generate_key(tmp_path)
    return keys.load_keyring(tmp_path, None)


@pytest.fixture
def codec(keyring: KeyRing) -> TokenCodec:
    return TokenCodec(keyring, issuer="blog-auth", audience="blog", ttl=timedelta(minutes=30))


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ops(
    uow: FakeUnitOfWork, hasher: PasswordHasher, codec: TokenCodec, clock: Clock
) -> AuthOperations:
    policy = ThrottlePolicy(max_failures=3, window=timedelta(minutes=15))
    public = [PublicKey("k", "EdDSA", "pem")]
    return AuthOperations(lambda: uow, hasher, codec, public, policy, clock)
