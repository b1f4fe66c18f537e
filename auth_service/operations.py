"""The auth use cases. They know neither gRPC nor SQL: collaborators come in as protocols.

Usernames, like emails, are unique regardless of case ("Alice" and "alice" are one account
name), which is what people expect; the spelling given at registration is kept for display.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from auth_service import models, sessions
from auth_service.errors import (
    AlreadyExistsError,
    BadCredentialsError,
    InvalidInputError,
    InvalidTokenError,
    RefreshTokenInvalidError,
    RefreshTokenReusedError,
    TooManyAttemptsError,
    WrongPasswordError,
)
from auth_service.models import (
    IssuedToken,
    NewUser,
    PublicKey,
    ThrottlePolicy,
    TokenSubject,
    User,
    UserEvent,
    UserEventKind,
)
from auth_service.ports import Hasher, Tokens, UnitOfWork

# Waits until the feed should look for new events again; False when it should end instead.
Idle = Callable[[], Awaitable[bool]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def poll_every(seconds: float, stopping: asyncio.Event | None = None) -> Idle:
    """An Idle that sleeps `seconds`, or ends the feed as soon as `stopping` is set."""

    async def idle() -> bool:
        if stopping is None:
            await asyncio.sleep(seconds)
            return True
        try:
            await asyncio.wait_for(stopping.wait(), seconds)
        except TimeoutError:
            return True
        return False

    return idle


def _with_refresh(
    access: IssuedToken, refresh: sessions.IssuedRefreshToken, now: datetime
) -> IssuedToken:
    lifetime = int((refresh.expires_at - now).total_seconds())
    return replace(access, refresh_token=refresh.token, refresh_expires_in=max(lifetime, 0))


def _current(subject: TokenSubject, user: User | None) -> User:
    """The user, if the token still speaks for them: not deleted (None), and issued in
    their current token epoch (not before a password change)."""
    if user is None or not subject.is_current_for(user):
        raise InvalidTokenError
    return user


def _repeat_of(earlier: User, email: str, username: str) -> User:
    if not models.same_registration(earlier, email, username):
        raise InvalidInputError([("request_id", "was already used for a different registration")])
    return earlier


class AuthOperations:
    """One method per use case; each opens one unit of work at most."""

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        hasher: Hasher,
        tokens: Tokens,
        public_keys: Sequence[PublicKey],
        throttle: ThrottlePolicy,
        clock: Callable[[], datetime] = _utcnow,
        idle: Idle | None = None,
        refresh_lifetime: timedelta = timedelta(days=30),
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._tokens = tokens
        self._public_keys = tuple(public_keys)
        self._throttle = throttle
        self._clock = clock
        self._idle = idle or poll_every(0.2)
        self._refresh_lifetime = refresh_lifetime

    async def register(
        self, email: str, username: str, password: str, request_id: str = ""
    ) -> User:
        """Create the account. With a request_id already used for this email and username,
        return that account and create nothing (a safe retry)."""
        email, username = email.strip(), username.strip()
        models.validate_registration(email, username, password, request_id)
        key = uuid.UUID(request_id) if request_id else None
        if key is not None:  # a retry costs no bcrypt
            async with self._uow() as uow:
                earlier = await uow.users.find_by_request_id(key)
            if earlier is not None:
                return _repeat_of(earlier, email, username)
        password_hash = await self._hasher.hash(password)
        async with self._uow() as uow:
            try:
                user = await uow.users.add(NewUser(email, username, password_hash, key))
            except AlreadyExistsError:
                # A parallel retry may have won the race: then answer as a repeat.
                earlier = None if key is None else await uow.users.find_by_request_id(key)
                if earlier is None:
                    raise
                return _repeat_of(earlier, email, username)
            await uow.user_events.append(UserEventKind.CREATED, user)
            await uow.commit()
        return user

    async def login(self, name: str, password: str) -> IssuedToken:
        models.validate_login(name, password)
        account, now = models.account_key(name), self._clock()
        async with self._uow() as uow:
            if self._throttle.is_locked(await uow.login_failures.get(account), now):
                raise TooManyAttemptsError
            found = await uow.users.find_credentials(name.strip())
        # bcrypt runs with no database connection held: a burst of logins cannot drain the pool.
        stored_hash = found.password_hash if found else None
        verified = await self._hasher.verify(password, stored_hash)
        async with self._uow() as uow:
            if found is None or not verified:
                await uow.login_failures.record_failure(account, now, self._throttle)
                await uow.commit()
                raise BadCredentialsError
            await uow.login_failures.clear(account)
            refresh = await sessions.start(
                uow.refresh_tokens, found.user.id, now, self._refresh_lifetime
            )
            await uow.commit()
        return _with_refresh(self._issue(found.user, now), refresh, now)

    async def refresh(self, refresh_token: str) -> IssuedToken:
        """Rotate the refresh token: a new access token and the session's next refresh token."""
        now = self._clock()
        async with self._uow() as uow:
            try:
                user_id, refresh = await sessions.rotate(uow.refresh_tokens, refresh_token, now)
            except RefreshTokenReusedError:
                await uow.commit()  # the family's revocation must stand
                raise
            user = await uow.users.get(user_id)  # for its token epoch
            if user is None:
                raise RefreshTokenInvalidError
            await uow.commit()
        return _with_refresh(self._issue(user, now), refresh, now)

    async def logout(self, refresh_token: str) -> None:
        """End the refresh token's session (its whole family)."""
        async with self._uow() as uow:
            await sessions.end(uow.refresh_tokens, refresh_token, self._clock())
            await uow.commit()

    async def current_user(self, token: str | None) -> User:
        subject = await self._subject(token)
        async with self._uow() as uow:
            return _current(subject, await uow.users.get(subject.user_id))

    async def update_current_user(
        self, token: str | None, username: str | None, email: str | None
    ) -> User:
        """Change the fields given; a new username goes into the feed in the same transaction."""
        subject = await self._subject(token)  # a bad token answers 401 before any 400
        username = None if username is None else username.strip()
        email = None if email is None else email.strip()
        models.validate_update(username, email)
        async with self._uow() as uow:
            changed = await uow.users.update(subject.user_id, username, email)
            if changed is None or not subject.is_current_for(changed[0]):
                raise InvalidTokenError  # deleted, or a password changed since: rolled back
            before, after = changed
            if after.username != before.username:
                await uow.user_events.append(UserEventKind.RENAMED, after)
            await uow.commit()
        return after

    async def change_password(
        self, token: str | None, current_password: str, new_password: str
    ) -> models.PasswordChanged:
        """Replace the password given the current one and raise the user's token epoch, so
        every token issued before is refused; revoke every session; record it in the feed;
        and hand out a new pair. A wrong current password counts as a failed login."""
        subject = await self._subject(token)
        models.validate_password_change(current_password, new_password)
        now = self._clock()
        async with self._uow() as uow:
            found = await uow.users.credentials_of(subject.user_id)
            user = _current(subject, found.user if found else None)
            stored_hash = found.password_hash if found else None
            account = models.account_key(user.username)  # the throttle's key, as at login
            if self._throttle.is_locked(await uow.login_failures.get(account), now):
                raise TooManyAttemptsError
        # bcrypt with no connection held, as in login.
        if not await self._hasher.verify(current_password, stored_hash):
            async with self._uow() as uow:
                await uow.login_failures.record_failure(account, now, self._throttle)
                await uow.commit()
            raise WrongPasswordError
        new_hash = await self._hasher.hash(new_password)
        async with self._uow() as uow:
            changed = await uow.users.change_password(user.id, new_hash, user.token_epoch)
            if changed is None:
                raise InvalidTokenError  # changed or deleted meanwhile: this token is stale
            await uow.login_failures.clear(account)
            await uow.refresh_tokens.revoke_user(user.id, now)
            await uow.user_events.append(UserEventKind.TOKENS_REVOKED, changed)
            refresh = await sessions.start(uow.refresh_tokens, user.id, now, self._refresh_lifetime)
            await uow.commit()
        return models.PasswordChanged(now, _with_refresh(self._issue(changed, now), refresh, now))

    async def _subject(self, token: str | None) -> TokenSubject:
        if not token:
            raise InvalidTokenError
        return await self._tokens.subject(token)

    def _issue(self, user: User, now: datetime) -> IssuedToken:
        return self._tokens.issue(user.id, now, user.token_epoch)

    async def delete_current_user(self, token: str | None) -> None:
        """Delete the token's account, record it in the feed and revoke its sessions, in one
        transaction."""
        subject = await self._subject(token)
        async with self._uow() as uow:
            user = _current(subject, await uow.users.delete(subject.user_id))  # else rolled back
            await uow.user_events.append(UserEventKind.DELETED, user)
            await uow.refresh_tokens.revoke_user(user.id, self._clock())
            await uow.commit()

    async def user_events(self, after_seq: int) -> AsyncIterator[tuple[UserEvent, int]]:
        """Events after `after_seq` with the feed's head seq, then new ones as they come.

        Each poll is a short unit of work of its own, so an open feed holds no connection.
        """
        if after_seq < 0:
            raise InvalidInputError([("after_seq", "must be 0 or more")])
        cursor = after_seq
        while True:
            async with self._uow() as uow:
                events = await uow.user_events.after(cursor, models.EVENT_BATCH)
                head = await uow.user_events.head() if events else cursor
            for event in events:
                yield event, max(head, event.seq)
                cursor = event.seq
            if len(events) < models.EVENT_BATCH and not await self._idle():
                return

    async def batch_get_users(self, user_ids: Sequence[int]) -> list[User]:
        if len(user_ids) > models.MAX_BATCH_IDS:
            raise InvalidInputError([("ids", f"at most {models.MAX_BATCH_IDS} ids per call")])
        if not user_ids:
            return []
        async with self._uow() as uow:
            return await uow.users.get_many(sorted(set(user_ids)))

    def public_keys(self) -> list[PublicKey]:
        return list(self._public_keys)
