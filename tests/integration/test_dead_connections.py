"""Connections killed under the pool are never handed to a request (issue 18: after one kill,
each dead pooled connection failed the next request that drew it, however much later)."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from app.platform.db import make_engine, make_sessionmaker
from app.platform.uow import unit_of_work
from tests.conftest import TZ

POOL = 5


async def _fill_the_pool(sessions) -> set[int]:
    """POOL connections open at once, then back in the pool: their backend pids."""
    gate = asyncio.Event()
    pids: set[int] = set()

    async def hold() -> None:
        async with sessions() as session:
            pids.add((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())
            if len(pids) == POOL:
                gate.set()
            await gate.wait()

    await asyncio.gather(*(hold() for _ in range(POOL)))
    return pids


async def _terminate(database_url: str, pids: set[int]) -> None:
    """Kill these backends of this test's own database, from a connection outside the pool."""
    engine = make_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid = ANY(:pids)"
                ),
                {"pids": list(pids)},
            )
    finally:
        await engine.dispose()


async def test_after_a_kill_every_request_gets_a_live_connection(clean_db, database_url, clock):
    engine = make_engine(database_url, pool_size=POOL)
    sessions = make_sessionmaker(engine)
    try:
        killed = await _fill_the_pool(sessions)
        await _terminate(database_url, killed)
        failures = []
        for _ in range(2 * POOL):
            try:
                async with unit_of_work(sessions, now=clock.now, tz=TZ) as uow:
                    pid = await (await uow.driver()).fetchval("SELECT pg_backend_pid()")
                    assert pid not in killed
            except Exception as exc:  # counted: the assertion below names each
                failures.append(repr(exc))
        assert failures == []
    finally:
        await engine.dispose()
