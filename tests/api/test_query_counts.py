"""No N+1: the SQL statements one request runs stay the same however long the list is.

Statements are counted with a `before_cursor_execute` listener on the test engine, and those
sent straight to asyncpg with `watch_statements`, for exactly one request. The pinned figures
are the batches the DataLoaders make: a change that adds a per-row query makes the larger list
cost more and fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event

from app.domain.shared.configuration import configuration
from app.platform.driver import watch_statements
from app.settings import Settings
from tests.conftest import NOW
from tests.helpers import earn, new_member, spend

MEMBERS_WITH_EVERYTHING = """
query($first: Int!) {
  members(first: $first) {
    edges { node {
      id displayName
      registeredVia { code }
      points { available pending expiring(withinDays: 30) { points expiresOn } }
      transactions(first: 5) {
        edges { node { id points businessUnit { code } } }
        pageInfo { hasNextPage }
      }
    } }
  }
}"""

# The members page, then one batch each: balances, expiring lots, transaction pages (which bring
# the units of the listed transactions along), and the units members registered via.
MEMBERS_STATEMENTS = 5


@pytest.fixture
def settings(redis_prefix) -> Settings:
    """The outbox relay marks relayed events off the request's path, one UPDATE for all events
    of `outbox_mark_seconds` (tests/integration/test_outbox.py); a slow machine must not see a
    batch of it land inside one request's count."""
    return Settings(redis_prefix=redis_prefix, outbox_mark_seconds=3600)


@contextmanager
def count_statements(engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        with watch_statements(statements.append):  # fixed SQL sent straight to asyncpg
            yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def seed_members(uow_factory, count: int) -> None:
    """Members with history at several units, some of it expiring within 30 days."""
    for i in range(count):
        async with uow_factory(NOW - timedelta(days=350)) as uow:  # expires in ~15 days
            member = await new_member(uow, ("HOTEL", "MALL", "OFFICE")[i % 3])
            await earn(uow, member, "400.00", unit="OFFICE")
        async with uow_factory() as uow:
            await earn(uow, member, "300.00", unit="HOTEL")
            await earn(uow, member, "20.00", unit="MALL")
            await earn(uow, member, "15.00", unit="TOURISM")
            await spend(uow, member, 100, unit="CONVENIENCE", order_amount="50")
            if i % 2:
                await earn(uow, member, "10.00", unit="PROPERTY")
                await earn(uow, member, "11.00", unit="HOTEL")


async def run_counted(gql, engine, headers, query, variables) -> tuple[dict, list[str]]:
    with count_statements(engine) as statements:
        body = await gql(query, variables, as_=headers)
    assert "errors" not in body, body
    return body, statements


async def test_member_list_costs_the_same_for_5_and_40(units, gql, creds, engine, uow_factory):
    await seed_members(uow_factory, 40)
    ops = creds.operator()
    counts = {}
    for size in (5, 40):
        body, statements = await run_counted(
            gql, engine, ops, MEMBERS_WITH_EVERYTHING, {"first": size}
        )
        edges = body["data"]["members"]["edges"]
        assert len(edges) == size
        # The data is really there, so every loader had rows to fetch for every member.
        assert all(e["node"]["points"]["expiring"] for e in edges)
        assert all(len(e["node"]["transactions"]["edges"]) == 5 for e in edges)
        codes = {
            t["node"]["businessUnit"]["code"]
            for e in edges
            for t in e["node"]["transactions"]["edges"]
        }
        assert {"HOTEL", "MALL", "TOURISM", "CONVENIENCE"} <= codes
        counts[size] = len(statements)
        assert len(statements) == MEMBERS_STATEMENTS, "\n".join(statements)
    assert counts[5] == counts[40], counts


async def test_one_members_long_history_costs_the_same_as_a_short_one(
    units, gql, creds, engine, uow_factory
):
    async with uow_factory() as uow:
        short = await new_member(uow, "HOTEL")
        long = await new_member(uow, "HOTEL")
        for member, count in ((short, 4), (long, 60)):  # both at the same four units
            for i in range(count):
                await earn(uow, member, "10.00", unit=("HOTEL", "MALL", "OFFICE", "TOURISM")[i % 4])
    query = """query($id: ID!) { member(id: $id) {
        id registeredVia { code } points { available pending expiring(withinDays: 365) { points } }
        transactions(first: 100) { edges { node { id businessUnit { code name } } } } } }"""
    counts = {}
    for member in (short, long):
        _, statements = await run_counted(
            gql, engine, creds.member(member), query, {"id": str(member)}
        )
        counts[member] = len(statements)
    assert counts[short] == counts[long] <= 6, counts


async def test_aliased_lists_batch_per_list_at_most(units, gql, creds, engine, uow_factory):
    """Two aliased pages: at most one balance query per list (they may share one batch,
    depending on which page's rows arrive first), never one per member."""
    await seed_members(uow_factory, 6)
    query = """{ a: members(first: 3) { edges { node { points { available } } } }
                 b: members(first: 6) { edges { node { points { available } } } } }"""
    _, statements = await run_counted(gql, engine, creds.operator(), query, {})
    balance_queries = [s for s in statements if "FROM member_balances" in s]
    assert 1 <= len(balance_queries) <= 2, statements
    assert len(statements) <= 4, statements


# Idempotency claim, the configuration's version (units, programme, tiers and campaigns are the
# worker's copy), link, member with its balance locked, duplicate order, standing, refund loop,
# the ledger writes (one statement), growth, result.
EARN_STATEMENTS = 10
# The same up to the standing, then the spendable lots, the ledger writes, the result.
SPEND_STATEMENTS = 9

TILL_EARN = """mutation($i: EarnPointsInput!) {
  earnPoints(input: $i) { points balance { available pending } transaction { id points }
                          errors { code } } }"""


async def test_an_earn_reads_no_configuration_and_answers_from_what_it_wrote(
    units, gql, creds, engine, uow_factory
):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        await configuration(uow)  # the worker's copy, as after its first request
    hotel = await creds.partner("HOTEL")
    await gql("{ businessUnits { code } }", as_=hotel)  # the key is remembered from now on
    order = {"memberId": str(member), "businessUnitId": "HOTEL", "amount": "88.00"}
    body, statements = await run_counted(
        gql, engine, hotel, TILL_EARN, {"i": {**order, "orderRef": "C1", "idempotencyKey": "C1"}}
    )
    payload = body["data"]["earnPoints"]
    assert payload["errors"] == [] and payload["points"] == 176
    assert payload["balance"] == {"available": 176, "pending": 0}
    assert len(statements) == EARN_STATEMENTS, "\n".join(statements)
    reads = [s for s in statements if s.startswith("SELECT")]
    assert not any("FROM business_units" in s or "FROM campaigns" in s for s in reads), reads
    assert sum("FROM member_balances" in s for s in reads) == 1  # the lock; not read again
    assert not any(s.startswith("SELECT partner_keys") for s in reads)
    assert not any("FROM points_transactions WHERE points_transactions.id =" in s for s in reads)

    # A replay reads what the first request recorded.
    replay, _ = await run_counted(
        gql, engine, hotel, TILL_EARN, {"i": {**order, "orderRef": "C1", "idempotencyKey": "C1"}}
    )
    assert replay["data"]["earnPoints"]["transaction"] == payload["transaction"]
    assert replay["data"]["earnPoints"]["balance"] == payload["balance"]


TILL_SPEND = """mutation($i: SpendPointsInput!) {
  spendPoints(input: $i) { cnyDeducted balance { available } errors { code } } }"""


async def test_a_spend_sends_a_fixed_number_of_statements_however_many_lots_it_takes(
    units, gql, creds, engine, uow_factory
):
    async with uow_factory() as uow:
        few = await new_member(uow, "HOTEL")
        many = await new_member(uow, "HOTEL")
        await earn(uow, few, "300.00", unit="HOTEL")
        for _ in range(12):
            await earn(uow, many, "25.00", unit="HOTEL")  # 50 points a lot
    hotel = await creds.partner("HOTEL")
    await gql("{ businessUnits { code } }", as_=hotel)  # the key is remembered from now on
    for member in (few, many):
        order = {"memberId": str(member), "businessUnitId": "HOTEL", "points": 500}
        variables = {"i": {**order, "orderAmount": "1000.00", "orderRef": f"S{member}"}}
        variables["i"]["idempotencyKey"] = f"S{member}"
        body, statements = await run_counted(gql, engine, hotel, TILL_SPEND, variables)
        payload = body["data"]["spendPoints"]
        assert payload["errors"] == [] and payload["balance"]["available"] == 100, payload
        assert len(statements) == SPEND_STATEMENTS, "\n".join(statements)


# The open lotteries, then one batch each: their current prizes, their current odds tables.
LOTTERIES_STATEMENTS = 3

LOTTERIES = "{ lotteries { id oddsVersion prizes { name probability } } }"


async def test_the_lotteries_cost_the_same_for_1_and_8(units, gql, creds, engine, uow_factory):
    from app.domain.mall.lottery import PrizeSpec, create_lottery
    from app.domain.mall.odds import publish_odds

    async def open_lotteries(count: int) -> None:
        for _ in range(count):
            async with uow_factory() as uow:
                made = await create_lottery(
                    uow,
                    name="Lucky draw",
                    cost_points=10,
                    daily_limit=1,
                    actor="ops:test",
                    prizes=[
                        PrizeSpec("10 points", chance_ppm=250_000, points=10),
                        PrizeSpec("Thank you", fallback=True),
                    ],
                )
                assert made.id is not None
            async with uow_factory() as uow:  # a second table: the current one is shown
                await publish_odds(
                    uow,
                    lottery_id=made.id,
                    actor="ops:test",
                    prizes=[
                        PrizeSpec("20 points", chance_ppm=100_000, points=20),
                        PrizeSpec("Thank you", fallback=True),
                    ],
                )

    counts = {}
    for total, adding in ((1, 1), (8, 7)):
        await open_lotteries(adding)
        body, statements = await run_counted(gql, engine, creds.operator(), LOTTERIES, {})
        shown = body["data"]["lotteries"]
        assert len(shown) == total
        assert all(lottery["oddsVersion"] == 2 for lottery in shown)
        assert all(
            lottery["prizes"]
            == [
                {"name": "20 points", "probability": "0.100000"},
                {"name": "Thank you", "probability": "0.900000"},
            ]
            for lottery in shown
        ), shown
        counts[total] = len(statements)
        assert len(statements) == LOTTERIES_STATEMENTS, "\n".join(statements)
    assert counts[1] == counts[8], counts
