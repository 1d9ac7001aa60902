"""Per-caller query budgets over HTTP (THROTTLED, retryAfter, fail open without Redis), the
request timeout (TIMEOUT) and PostgreSQL's statement timeout (STATEMENT_TIMEOUT)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as redis
from sqlalchemy import func, select, text

from app.bootstrap import Services
from app.domain.till import earning
from app.graphql.core.loaders import Loaders
from app.main import create_app
from app.models import PointsTransaction
from app.platform.db import make_engine, make_sessionmaker
from app.settings import Settings
from tests.api.conftest import EARN, GraphQLClient, error_code
from tests.api.test_observability import scrape, value
from tests.helpers import new_member

HOME = """query Home { me { id displayName points { available pending expiring(withinDays: 30)
  { expiresOn points } } transactions(first: 10) { edges { node { id kind points orderRef
  createdAt businessUnit { code } } } } } }"""  # costs 33
UNITS = "{ businessUnits { code spendRules { step } } }"  # costs 11
PRICE = "query Price($input: EarnPointsInput!) { previewEarn(input: $input) { points } }"


@contextlib.asynccontextmanager
async def gateway(
    services: Services, client_ip: str = "127.0.0.1", **settings
) -> AsyncIterator[GraphQLClient]:
    """A gateway on the test database with some settings changed, seen from `client_ip`."""
    services.settings = dataclasses.replace(services.settings, **settings)
    app = create_app(services=services)
    transport = httpx.ASGITransport(app=app, client=(client_ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield GraphQLClient(http)


SMALL = {"query_budget_capacity": 100, "query_budget_leak_per_second": 10.0}


@pytest.fixture
async def member(units, uow_factory) -> int:
    async with uow_factory() as uow:
        return await new_member(uow, "HOTEL")


# --- Budgets -------------------------------------------------------------------------------


async def test_a_caller_over_budget_is_throttled_until_the_bucket_drains(
    services, member, creds, clock
):
    me = creds.member(member)
    async with gateway(services, **SMALL) as gql:
        first = await gql(HOME, as_=me)
        assert "errors" not in first
        assert first["extensions"]["cost"] == {
            "requested": 33,
            "limit": 5000,
            "budget": {"capacity": 100, "remaining": 67, "leakPerSecond": 10.0},
        }
        assert "errors" not in await gql(HOME, as_=me)
        assert "errors" not in await gql(HOME, as_=me)
        response = await gql.http.post("/graphql", json={"query": HOME}, headers=me)
        body = response.json()
        assert (response.status_code, body["data"], error_code(body)) == (200, None, "THROTTLED")
        # 99 used of 100: the next 33 fit once 32 have drained, at 10 a second.
        assert body["errors"][0]["extensions"] == {
            "code": "THROTTLED",
            "retryAfter": 4,
            "cost": 33,
            "remaining": 1,
        }
        assert response.headers["retry-after"] == "4"
        clock.advance(seconds=3)
        assert error_code(await gql(HOME, as_=me)) == "THROTTLED"
        clock.advance(seconds=1)
        assert "errors" not in await gql(HOME, as_=me)
        samples = await scrape(gql.http)
    assert value(samples, "bmg_graphql_throttled_total", caller="member") == 2
    assert value(samples, "bmg_graphql_errors_total", operation="Home", code="THROTTLED") == 2


async def test_a_throttled_mutation_runs_nothing(services, member, creds, uow_factory):
    hotel = await creds.partner("HOTEL")
    earn = {
        "input": {
            "memberId": str(member),
            "businessUnitId": "HOTEL",
            "orderRef": "T1",
            "amount": "100.00",
            "idempotencyKey": "t1",
        }
    }
    async with gateway(services, query_budget_partner_factor=1, **SMALL) as gql:
        for _ in range(9):
            assert "errors" not in await gql(UNITS, as_=hotel)  # 99 of 100
        body = await gql(EARN, earn, as_=hotel)
    assert (body["data"], error_code(body)) == (None, "THROTTLED")
    async with uow_factory() as uow:
        count = select(func.count()).select_from(PointsTransaction)
        assert await uow.session.scalar(count) == 0


async def test_each_caller_has_a_bucket_anonymous_callers_one_per_address(services, member, creds):
    async with gateway(services, client_ip="10.0.0.1", **SMALL) as gql:
        for _ in range(9):
            assert "errors" not in await gql(UNITS)
        assert error_code(await gql(UNITS)) == "THROTTLED"
        assert "errors" not in await gql(UNITS, as_=creds.member(member))
        assert "errors" not in await gql(UNITS, as_=creds.operator())
    async with gateway(services, client_ip="10.0.0.2") as other:
        assert "errors" not in await other(UNITS)


async def test_partner_keys_get_a_larger_bucket(services, creds):
    hotel = await creds.partner("HOTEL")
    async with gateway(services, query_budget_partner_factor=5, **SMALL) as gql:
        body = await gql(UNITS, as_=hotel)
    assert body["extensions"]["cost"]["budget"] == {
        "capacity": 500,
        "remaining": 489,
        "leakPerSecond": 50.0,
    }


async def test_budgets_can_be_turned_off(services, member, creds):
    async with gateway(services, query_budget_capacity=0) as gql:
        body = await gql(HOME, as_=creds.member(member))
    assert body["extensions"]["cost"] == {"requested": 33, "limit": 5000}


async def test_without_redis_requests_go_through_unmetered_logged_and_counted(
    services, member, creds, caplog
):
    down = redis.from_url("redis://127.0.0.1:1/0", decode_responses=True)  # nothing listens
    unreachable = dataclasses.replace(services, redis=down)
    try:
        with caplog.at_level(logging.WARNING, logger="app.graphql.core.limits"):
            async with gateway(unreachable, **SMALL) as gql:
                for _ in range(4):  # 132 > 100: would be throttled with Redis
                    body = await gql(HOME, as_=creds.member(member))
                    assert "errors" not in body and body["data"]["me"]["id"] == str(member)
                    assert body["extensions"]["cost"]["budget"] is None
                samples = await scrape(gql.http)
    finally:
        await down.aclose()
    assert value(samples, "bmg_graphql_budget_unavailable_total") == 4
    assert sum("query budget unavailable" in r.getMessage() for r in caplog.records) == 4


async def test_the_cost_limit_holds_without_redis(services, creds):
    down = redis.from_url("redis://127.0.0.1:1/0", decode_responses=True)
    try:
        async with gateway(dataclasses.replace(services, redis=down), max_query_cost=10) as gql:
            body = await gql(UNITS, as_=creds.operator())
    finally:
        await down.aclose()
    assert error_code(body) == "QUERY_TOO_COSTLY"


# --- Timeouts ------------------------------------------------------------------------------


def price_input(member: int) -> dict:
    return {
        "input": {
            "memberId": str(member),
            "businessUnitId": "HOTEL",
            "orderRef": "Q",
            "amount": "1",
        }
    }


async def test_a_request_running_too_long_is_stopped_with_timeout(
    services, member, creds, monkeypatch
):
    hotel = await creds.partner("HOTEL")

    async def never_answers(*args, **kwargs):
        await asyncio.Event().wait()

    monkeypatch.setattr(earning, "quote_earn", never_answers)
    async with gateway(services, request_timeout_seconds=0.2) as gql:
        body = await gql(PRICE, price_input(member), as_=hotel)
        assert (body["data"], error_code(body)) == (None, "TIMEOUT")
        assert body["errors"][0]["extensions"]["requestId"]
        assert "0.2 s" in body["errors"][0]["message"]
        monkeypatch.undo()
        assert "errors" not in await gql(PRICE, price_input(member), as_=hotel)  # pool intact
        samples = await scrape(gql.http)
    assert value(samples, "bmg_graphql_errors_total", operation="Price", code="TIMEOUT") == 1
    assert value(samples, "bmg_db_pool_checked_out") == 0


async def test_a_stopped_request_cancels_the_reads_its_loaders_started(
    services, member, creds, monkeypatch
):
    """A DataLoader batch runs as a task of its own: the request's timeout must stop it too,
    or it would hold a pooled connection reading for an answer nobody waits for."""
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def members_never_answer(self, ids):
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    monkeypatch.setattr(Loaders, "_members", members_never_answer)
    async with gateway(services, request_timeout_seconds=0.2) as gql:
        body = await gql("{ me { id } }", as_=creds.member(member))
        assert (body["data"], error_code(body)) == (None, "TIMEOUT")
        assert started.is_set()
        assert cancelled.is_set()  # before the answer went out, not some time later
        monkeypatch.undo()
        again = await gql("{ me { id } }", as_=creds.member(member))
        assert again["data"] == {"me": {"id": str(member)}}


@pytest.fixture
async def slow_statements(database_url) -> AsyncIterator:
    """Sessions whose statements PostgreSQL cancels after 50 ms."""
    engine = make_engine(database_url, pool_size=2, statement_timeout_ms=50)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def test_connections_carry_the_statement_timeout(slow_statements, sessions):
    async with slow_statements() as session:
        assert await session.scalar(text("SHOW statement_timeout")) == "50ms"
    async with sessions() as session:  # jobs and tests: no timeout unless asked
        assert await session.scalar(text("SHOW statement_timeout")) == "0"


async def test_a_statement_cancelled_by_postgres_answers_statement_timeout(
    services, slow_statements, member, creds, monkeypatch, caplog
):
    hotel = await creds.partner("HOTEL")

    async def slow_quote(uow, **kwargs):
        await uow.session.execute(text("SELECT pg_sleep(5)"))

    monkeypatch.setattr(earning, "quote_earn", slow_quote)
    with caplog.at_level(logging.WARNING):
        async with gateway(dataclasses.replace(services, sessions=slow_statements)) as gql:
            response = await gql.http.post(
                "/graphql", json={"query": PRICE, "variables": price_input(member)}, headers=hotel
            )
            samples = await scrape(gql.http)
    body = response.json()
    assert (response.status_code, body["data"], error_code(body)) == (
        200,
        None,
        "STATEMENT_TIMEOUT",
    )
    assert body["errors"][0]["extensions"]["requestId"]
    for leak in ("pg_sleep", "canceling", "Traceback", "asyncpg"):
        assert leak not in response.text
    assert (
        value(samples, "bmg_graphql_errors_total", operation="Price", code="STATEMENT_TIMEOUT") == 1
    )
    assert value(samples, "bmg_graphql_errors_total", operation="Price", code="INTERNAL") == 0
    assert any("statement timeout" in r.getMessage() for r in caplog.records)


# --- Settings ------------------------------------------------------------------------------


def test_limits_come_from_the_environment(monkeypatch):
    for name, raw in {
        "MAX_QUERY_DEPTH": "7",
        "MAX_QUERY_ALIASES": "12",
        "MAX_QUERY_TOKENS": "900",
        "MAX_QUERY_COST": "1500",
        "QUERY_BUDGET_CAPACITY": "3000",
        "QUERY_BUDGET_LEAK_PER_SECOND": "12.5",
        "QUERY_BUDGET_PARTNER_FACTOR": "4",
        "REQUEST_TIMEOUT_SECONDS": "2.5",
        "DB_STATEMENT_TIMEOUT_MS": "750",
    }.items():
        monkeypatch.setenv(name, raw)
    settings = Settings.from_env()
    assert (settings.max_query_depth, settings.max_query_aliases, settings.max_query_tokens) == (
        7,
        12,
        900,
    )
    assert (settings.max_query_cost, settings.query_budget_capacity) == (1500, 3000)
    assert (settings.query_budget_leak_per_second, settings.query_budget_partner_factor) == (
        12.5,
        4,
    )
    assert (settings.request_timeout_seconds, settings.db_statement_timeout_ms) == (2.5, 750)


async def test_the_gateway_applies_its_settings(database_url, redis_prefix, units):
    settings = Settings(
        database_url=database_url,
        redis_prefix=redis_prefix,
        db_statement_timeout_ms=1234,
        max_query_depth=3,
    )
    app = create_app(settings)
    services = app.state.services
    try:
        async with services.sessions() as session:
            assert await session.scalar(text("SHOW statement_timeout")) == "1234ms"
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://g") as http:
            gql = GraphQLClient(http)
            assert "errors" not in await gql("{ businessUnits { spendRules { step } } }")
            deep = await gql("{ me { transactions { edges { node { id } } } } }")
            assert any("depth of 3" in e["message"] for e in deep["errors"]), deep
    finally:
        await services.sessions.kw["bind"].dispose()
        await services.redis.aclose()
