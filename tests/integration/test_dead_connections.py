"""Connections killed under the pool are never handed to a request (issue 18: after one kill,
each dead pooled connection failed the next request that drew it, however much later), and a
read that meets one anyway (it died between the pre-ping and its first statement) runs once
more on a fresh connection; a mutation never does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.bootstrap import Services
from app.domain.access.partner_keys import create_partner_key
from app.domain.access.tokens import mint_operator_token
from app.main import create_app
from app.platform.db import make_engine, make_sessionmaker
from app.platform.uow import unit_of_work
from app.settings import Settings
from tests.conftest import TZ
from tests.helpers import new_member

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
            # Gone on the server, and the client has read their end: a backend's FATAL read
            # before its EOF leaves asyncpg mid-error ("another operation is in progress"),
            # a connection dying as it is used, not one closed before use.
            for _ in range(200):
                await conn.execute(text("SELECT pg_stat_clear_snapshot()"))  # a fresh look
                left = await conn.scalar(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"),
                    {"pids": list(pids)},
                )
                if not left:
                    break
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
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


# --- Behind the pre-ping: a read that meets a closed connection runs once more ---------------

MEMBER = "query($id: ID!) { member(id: $id) { id points { available } } }"
EARN = """
mutation($input: EarnPointsInput!) {
  earnPoints(input: $input) { balance { available } replayed errors { code } }
}"""


@pytest.fixture
async def unpinged(database_url) -> AsyncIterator[async_sessionmaker]:
    """Sessions whose pool checks nothing at checkout, as if a connection died between the
    pre-ping and its first statement: what the retry of reads is there for."""
    engine = make_engine(database_url, pool_size=POOL, pre_ping=False)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
async def gateway(unpinged, redis_client, redis_prefix, clock):
    services = Services(
        settings=Settings(redis_prefix=redis_prefix),
        sessions=unpinged,
        redis=redis_client,
        clock=lambda: clock.now,
    )
    transport = httpx.ASGITransport(app=create_app(services=services))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield services, http
    await services.drain()


async def _ask(http, query: str, variables: dict, headers: dict) -> dict:
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_read_on_a_connection_closed_before_use_runs_again(
    units, uow_factory, gateway, unpinged, database_url
):
    services, http = gateway
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
    ops = {"Authorization": f"Bearer {mint_operator_token(services.settings, 'ops-1', 'ops')}"}
    for _ in range(2 * POOL):
        killed = await _fill_the_pool(unpinged)
        await _terminate(database_url, killed)
        body = await _ask(http, MEMBER, {"id": str(member)}, ops)
        assert "errors" not in body, body  # answered from a fresh connection
        assert body["data"]["member"] == {"id": str(member), "points": {"available": 0}}


async def test_a_mutation_on_a_closed_connection_is_not_run_again(
    units, uow_factory, gateway, unpinged, database_url
):
    _, http = gateway
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        key, _ = await create_partner_key(uow, business_unit="HOTEL", scopes=["earn"])
    till = {"X-Api-Key": key}
    values = {
        "memberId": str(member),
        "businessUnitId": "HOTEL",
        "orderRef": "o-1",
        "amount": "100.00",
        "idempotencyKey": "k-1",
    }
    await _ask(http, "{ businessUnits { id } }", {}, till)  # the key is known from now on
    killed = await _fill_the_pool(unpinged)
    await _terminate(database_url, killed)

    first = await _ask(http, EARN, {"input": values}, till)
    assert first["errors"][0]["extensions"]["code"] == "INTERNAL", first  # not run again
    again = await _ask(http, EARN, {"input": values}, till)  # the client retries, same key
    assert again["data"]["earnPoints"] == {
        "balance": {"available": 200},
        "replayed": False,  # the first attempt recorded nothing
        "errors": [],
    }
