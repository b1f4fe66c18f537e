"""Auth repositories and unit of work on real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from auth_service.db.repository import SqlLoginFailureRepository, SqlUserRepository
from auth_service.db.uow import SqlUnitOfWork
from auth_service.errors import EmailTakenError, UsernameTakenError
from auth_service.models import NewUser, ThrottlePolicy

HASH = "$2b$12$" + "x" * 53


async def test_add_returns_the_stored_user_with_timestamps(session: AsyncSession) -> None:
    users = SqlUserRepository(session)
    user = await users.add(NewUser("Ann@Example.com", "Ann", HASH))
    assert user.id > 0
    assert user.created_at.tzinfo is not None
    assert await users.get(user.id) == user
    assert await users.get_many([user.id, 987654]) == [user]


async def test_add_turns_a_taken_email_in_any_case_into_a_domain_error(
    session: AsyncSession,
) -> None:
    users = SqlUserRepository(session)
    await users.add(NewUser("bea@example.com", "bea", HASH))
    with pytest.raises(EmailTakenError):
        await users.add(NewUser("BEA@example.com", "bea2", HASH))
    assert await users.find_credentials("bea") is not None  # the session is still usable


async def test_add_turns_a_taken_username_in_any_case_into_a_domain_error(
    session: AsyncSession,
) -> None:
    users = SqlUserRepository(session)
    await users.add(NewUser("cy@example.com", "cy", HASH))
    with pytest.raises(UsernameTakenError):
        await users.add(NewUser("cy2@example.com", "CY", HASH))


async def test_find_credentials_matches_username_or_email_regardless_of_case(
    session: AsyncSession,
) -> None:
    users = SqlUserRepository(session)
    user = await users.add(NewUser("dee@example.com", "Dee", HASH))
    for name in ("dee", "DEE@EXAMPLE.COM"):
        found = await users.find_credentials(name)
        assert found is not None
        assert (found.user, found.password_hash) == (user, HASH)
    assert await users.find_credentials("nobody") is None


async def test_record_failure_counts_and_starts_over_after_the_window(
    session: AsyncSession,
) -> None:
    failures = SqlLoginFailureRepository(session)
    policy = ThrottlePolicy(5, timedelta(minutes=15))
    start = datetime.now(UTC)
    await failures.record_failure("eve", start, policy)
    await failures.record_failure("eve", start + timedelta(minutes=1), policy)
    record = await failures.get("eve")
    assert record is not None
    assert (record.failures, record.window_started_at) == (2, start)
    later = start + timedelta(minutes=16)
    await failures.record_failure("eve", later, policy)
    assert await failures.get("eve") == type(record)(1, later)
    await failures.clear("eve")
    assert await failures.get("eve") is None


async def test_unit_of_work_discards_what_was_not_committed(engine: AsyncEngine) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with SqlUnitOfWork(sessions) as uow:
        user = await uow.users.add(NewUser("fay@example.com", "fay", HASH))
    async with SqlUnitOfWork(sessions) as uow:
        assert await uow.users.get(user.id) is None
