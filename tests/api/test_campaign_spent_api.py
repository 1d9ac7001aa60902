"""`Campaign.spent` over GraphQL for campaigns with and without a budget (the latter summed from
members' usage, one query per page), through refunds and a budget removed; a budget may be added
only before a campaign starts."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from app.models import Campaign, OperatorAction
from tests.api.test_campaigns_api import UPDATE
from tests.api.test_query_counts import run_counted
from tests.campaign_helpers import add_campaign
from tests.conftest import NOW
from tests.helpers import assert_clean, earn, ledger_snapshot, new_member, refund

LIST = """{ campaigns(first: 50) { edges { node { code budget spent } } } }"""


async def listed(gql, headers) -> dict[str, tuple[int | None, int]]:
    body = await gql(LIST, as_=headers)
    return {
        e["node"]["code"]: (e["node"]["budget"], e["node"]["spent"])
        for e in body["data"]["campaigns"]["edges"]
    }


async def column(uow_factory, cid: int) -> int:
    async with uow_factory() as uow:
        return (await uow.session.get(Campaign, cid)).spent


async def test_spent_is_right_with_and_without_a_budget_through_refunds(
    units, gql, creds, uow_factory
):
    async with uow_factory() as uow:
        open_ = await add_campaign(uow, code="OPEN")  # x2, no budget
        capped = await add_campaign(uow, code="CAPPED", budget=1000)  # x2 as well
        a, b = await new_member(uow), await new_member(uow)
        order = await earn(uow, a, "100", "HOTEL")  # 200 + 200 + 200
        await earn(uow, b, "100", "HOTEL")
    ops = creds.operator()
    assert await listed(gql, ops) == {"OPEN": (None, 400), "CAPPED": (1000, 400)}
    async with uow_factory() as uow:
        await refund(uow, order.id, "50")  # 100 back from each lot
    assert await listed(gql, ops) == {"OPEN": (None, 300), "CAPPED": (1000, 300)}
    assert (await column(uow_factory, open_), await column(uow_factory, capped)) == (0, 300)

    # the budget removed: from then on what CAPPED gave is summed from usage too
    body = await gql(UPDATE, {"input": {"id": str(capped), "budget": None}}, as_=ops)
    assert body["data"]["updateCampaign"]["errors"] == []
    assert body["data"]["updateCampaign"]["campaign"]["spent"] == 300
    async with uow_factory() as uow:
        await earn(uow, b, "100", "HOTEL")
        await refund(uow, order.id)  # the rest of a's order: 100 more back from each
    assert await listed(gql, ops) == {"OPEN": (None, 400), "CAPPED": (None, 400)}
    assert await column(uow_factory, capped) == 300  # no longer kept
    await assert_clean(uow_factory)


async def test_listing_spent_costs_the_same_for_2_and_12_campaigns(
    units, gql, creds, engine, uow_factory
):
    ops = creds.operator()
    await gql(LIST, as_=ops)  # warm up what a first request loads once
    counts, total = [], 0
    for more in (2, 10):
        total += more
        async with uow_factory() as uow:
            for _ in range(more):
                await add_campaign(uow)
            member = await new_member(uow)
            await earn(uow, member, "10", "HOTEL")
        body, statements = await run_counted(gql, engine, ops, LIST, {})
        spent = [e["node"]["spent"] for e in body["data"]["campaigns"]["edges"]]
        assert len(spent) == total and all(points > 0 for points in spent)
        counts.append(len(statements))
    assert counts[0] == counts[1], counts


async def test_a_budget_cannot_be_added_once_a_campaign_has_started(units, gql, creds, uow_factory):
    async with uow_factory() as uow:
        cid = await add_campaign(uow, code="RUNNING")  # started a day ago, no budget
        member = await new_member(uow)
        await earn(uow, member, "100", "HOTEL")
    before = (await ledger_snapshot(uow_factory), await column(uow_factory, cid))
    ops = creds.operator()
    change = {"id": str(cid), "budget": 5000, "name": "Renamed"}
    body = await gql(UPDATE, {"input": change}, as_=ops)
    [error] = body["data"]["updateCampaign"]["errors"]
    assert (error["code"], error["field"]) == ("INVALID_INPUT", "budget")
    assert "before the campaign starts" in error["message"]
    assert "create a new campaign" in error["message"]
    async with uow_factory() as uow:
        row = await uow.session.get(Campaign, cid)
        assert (row.budget, row.name) == (None, "Test campaign")
        actions = await uow.session.scalar(select(func.count()).select_from(OperatorAction))
    assert actions == 1  # the create only
    assert (await ledger_snapshot(uow_factory), await column(uow_factory, cid)) == before


async def test_a_budget_added_before_the_start_holds_from_the_first_order(
    units, gql, creds, uow_factory, clock
):
    async with uow_factory() as uow:
        cid = await add_campaign(uow, code="LATER", starts_at=NOW + timedelta(days=1))
        member = await new_member(uow)
    body = await gql(UPDATE, {"input": {"id": str(cid), "budget": 300}}, as_=creds.operator())
    updated = body["data"]["updateCampaign"]
    assert updated["errors"] == []
    assert (updated["campaign"]["budget"], updated["campaign"]["spent"]) == (300, 0)
    clock.advance(days=2)
    async with uow_factory() as uow:
        assert (await earn(uow, member, "100", "HOTEL")).points == 400  # 200 of 300
        assert (await earn(uow, member, "100", "HOTEL")).points == 300  # the last 100
    assert await column(uow_factory, cid) == 300
    assert await listed(gql, creds.operator()) == {"LATER": (300, 300)}
    await assert_clean(uow_factory)
