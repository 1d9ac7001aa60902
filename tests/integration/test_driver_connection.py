"""The asyncpg connection a hot path sends fixed SQL to is the unit of work's own: what it
writes commits and rolls back with the unit's transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.driver import driver_connection, watch_statements
from app.models import IdempotencyKey


async def _names(sessions) -> set[str]:
    async with sessions() as session:
        return set((await session.execute(select(IdempotencyKey.caller))).scalars())


async def _insert(driver, code: str) -> None:
    await driver.execute(
        "INSERT INTO idempotency_keys (caller, key, operation, fingerprint, result, created_at)"
        " VALUES ($1, 'k', 'test', 'f', '{}', now())",
        code,
    )


async def test_raw_statements_join_the_unit_of_work(clean_db, uow_factory, sessions):
    async with uow_factory() as uow:
        driver = await uow.driver()  # before anything else was sent: it begins the transaction
        assert driver.is_in_transaction()
        await _insert(driver, "RAW1")
        assert await uow.driver() is driver
    assert "RAW1" in await _names(sessions)

    with pytest.raises(RuntimeError):
        async with uow_factory() as uow:
            await _insert(await uow.driver(), "RAW2")
            raise RuntimeError("roll back")
    assert "RAW2" not in await _names(sessions)


async def test_autocommit_sessions_stay_outside_a_transaction(clean_db, sessions):
    async with sessions() as session:
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        driver = await driver_connection(session)
        assert not driver.is_in_transaction()
        assert await driver.fetchval("SELECT 1") == 1


async def test_statements_are_watched(clean_db, uow_factory):
    seen: list[str] = []
    async with uow_factory() as uow:
        driver = await uow.driver()
        with watch_statements(seen.append):
            await driver.fetchval("SELECT 2")
        await driver.fetchval("SELECT 3")
    assert seen == ["SELECT 2"]
