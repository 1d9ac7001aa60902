"""The asyncpg connection a hot path sends fixed SQL to is the unit of work's own: what it
writes commits and rolls back with the unit's transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.models import IdempotencyKey
from app.platform.driver import driver_connection, watch_statements


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


async def _orm_insert(uow, code: str) -> None:
    uow.session.add(
        IdempotencyKey(
            caller=code, key="k", operation="test", fingerprint="f", result={}, created_at=uow.now
        )
    )
    await uow.session.flush()


async def _backend(driver) -> int:
    return await driver.fetchval("SELECT pg_backend_pid()")


def _checked_out(engine) -> int:
    return engine.sync_engine.pool.checkedout()


async def test_fixed_sql_alone_makes_no_session(clean_db, uow_factory, sessions, engine):
    async with uow_factory() as uow:
        await _insert(await uow.driver(), "RAW3")
        assert uow.session_if_made() is None
    assert "RAW3" in await _names(sessions)
    assert _checked_out(engine) == 0  # the connection went back


@pytest.mark.parametrize("first", ["driver", "session"])
async def test_the_driver_and_the_session_share_one_transaction(
    first, clean_db, uow_factory, sessions, engine
):
    async with uow_factory() as uow:
        if first == "driver":
            driver = await uow.driver()
            await _insert(driver, "D1")
            await _orm_insert(uow, "S1")
        else:
            await _orm_insert(uow, "S1")
            driver = await uow.driver()
            await _insert(driver, "D1")
        orm_pid = (await uow.session.execute(select(func.pg_backend_pid()))).scalar_one()
        assert orm_pid == await _backend(driver)
    assert {"D1", "S1"} <= await _names(sessions)
    assert _checked_out(engine) == 0

    with pytest.raises(RuntimeError):
        async with uow_factory() as uow:
            await _insert(await uow.driver(), "D2")
            await _orm_insert(uow, "S2")
            raise RuntimeError("roll back")
    assert not {"D2", "S2"} & await _names(sessions)
    assert _checked_out(engine) == 0


async def test_a_connection_lost_mid_transaction_is_discarded(clean_db, uow_factory, engine):
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises for a lost link
        async with uow_factory() as uow:
            driver = await uow.driver()
            victim = await _backend(driver)
            async with uow_factory() as other:
                await (await other.driver()).fetchval("SELECT pg_terminate_backend($1)", victim)
            await driver.fetchval("SELECT 1")
    assert _checked_out(engine) == 0
    async with uow_factory() as uow:  # the pool still serves working connections
        assert await (await uow.driver()).fetchval("SELECT 1") == 1
