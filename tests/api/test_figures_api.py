"""The figures over GraphQL: the numbers as Decimal strings after a refresh (and none before
it), a unit's read key on its own unit only, bad input as typed errors, expiringPoints page by
page for the reminder service, and the member 360 with rights, the mall and the ledger's spend
and visits per format, in as many statements for six members as for two."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.domain.mall.orders import cancel_order, place_order
from app.domain.rights.catalogue import RightSpec, create_right
from app.domain.rights.wallet import buy_right
from app.jobs.figures import refresh
from tests.api.conftest import error_code
from tests.api.test_query_counts import count_statements
from tests.conftest import NOW
from tests.helpers import earn, new_member, spend
from tests.mall_helpers import WINDOW, item, order, voucher_item

FIGURES = """query($period: String!, $unit: ID) {
  programFigures(period: $period, businessUnitId: $unit) {
    period businessUnit { code } issuedPoints redeemedPoints expiredPoints redemptionRate
    breakageRate liabilityPoints liabilityAmount liabilityCost sales pointsCost
    pointsCostShareOfSales costShareAlert activeMembers asOf
  }
}"""

EXPIRING = """query($days: Int!, $first: Int, $after: String) {
  expiringPoints(withinDays: $days, first: $first, after: $after) {
    edges { cursor node { member { id } points firstExpiresAt days { expiresOn points } } }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def _june(uow_factory, services) -> tuple[int, int]:
    """A earns 1000 CNY at HOTEL (2000 points, cost 20.00) and spends 500 there; B earns
    100 CNY at CONVENIENCE (100 points, cost 3.00); then the figures are refreshed."""
    async with uow_factory() as uow:
        a = await new_member(uow, "HOTEL")
        b = await new_member(uow, "CONVENIENCE")
        await earn(uow, a, "1000", "HOTEL")
        await spend(uow, a, 500, "100", "HOTEL")
        await earn(uow, b, "100", "CONVENIENCE")
    await refresh(services.sessions, settings=services.settings, now=NOW + timedelta(minutes=1))
    return a, b


async def test_ops_read_the_group_and_a_unit(units, gql, creds, uow_factory, services):
    await _june(uow_factory, services)
    body = await gql(FIGURES, {"period": "2026-06"}, as_=creds.operator("finance"))
    assert "errors" not in body, body
    assert body["data"]["programFigures"] == {
        "period": "2026-06",
        "businessUnit": None,
        "issuedPoints": 2100,
        "redeemedPoints": 500,
        "expiredPoints": 0,
        "redemptionRate": "0.2381",
        "breakageRate": "0.0000",
        "liabilityPoints": 1600,
        "liabilityAmount": "16.00",  # at the default clearing price, 0.01
        "liabilityCost": "18.00",  # 1500 x 0.01 + 100 x 0.03
        "sales": "1100.00",
        "pointsCost": "23.00",
        "pointsCostShareOfSales": "0.0209",
        "costShareAlert": True,
        "activeMembers": 2,
        "asOf": (NOW + timedelta(minutes=1)).isoformat(),
    }
    store = await gql(FIGURES, {"period": "2026-06", "unit": "CONVENIENCE"}, as_=creds.operator())
    figures = store["data"]["programFigures"]
    assert (figures["pointsCostShareOfSales"], figures["costShareAlert"]) == ("0.0300", False)


async def test_before_any_refresh_the_figures_are_empty_and_say_so(units, gql, creds, uow_factory):
    async with uow_factory() as uow:
        await earn(uow, await new_member(uow, "HOTEL"), "1000", "HOTEL")
    body = await gql(FIGURES, {"period": "2026-06"}, as_=creds.operator())
    figures = body["data"]["programFigures"]
    assert (figures["issuedPoints"], figures["asOf"], figures["redemptionRate"]) == (0, None, None)


async def test_a_units_read_key_reads_its_own_unit_only(units, gql, creds, uow_factory, services):
    await _june(uow_factory, services)
    hotel = await creds.partner("HOTEL", "read")
    own = await gql(FIGURES, {"period": "2026-06", "unit": "HOTEL"}, as_=hotel)
    assert own["data"]["programFigures"]["issuedPoints"] == 2000
    assert own["data"]["programFigures"]["businessUnit"] == {"code": "HOTEL"}
    by_id = await gql(FIGURES, {"period": "2026-06", "unit": str(units["HOTEL"])}, as_=hotel)
    assert by_id["data"]["programFigures"]["issuedPoints"] == 2000
    for unit in (None, "CONVENIENCE"):
        body = await gql(FIGURES, {"period": "2026-06", "unit": unit}, as_=hotel)
        assert error_code(body) == "FORBIDDEN" and body["data"] is None
    earn_only = await creds.partner("HOTEL", "earn")
    body = await gql(FIGURES, {"period": "2026-06", "unit": "HOTEL"}, as_=earn_only)
    assert error_code(body) == "FORBIDDEN"


@pytest.mark.parametrize(
    ("document", "variables", "field"),
    [
        (FIGURES, {"period": "2026-13"}, "period"),
        (FIGURES, {"period": "last month"}, "period"),
        ('{ formatOverlap(period: "2026-6") { members } }', {}, "period"),
        ('{ memberSegments(period: "") { members } }', {}, "period"),
        ('{ referralStats(period: "2026-06", top: 1000) { coefficient } }', {}, "top"),
        (EXPIRING, {"days": 0}, "withinDays"),
        (EXPIRING, {"days": 100000}, "withinDays"),
        (EXPIRING, {"days": 30, "first": 101}, "first"),
        (EXPIRING, {"days": 30, "after": "not-a-cursor"}, "after"),
    ],
)
async def test_bad_input_is_a_typed_error(units, gql, creds, document, variables, field):
    body = await gql(document, variables, as_=creds.operator())
    assert error_code(body) == "INVALID_INPUT", body
    assert body["errors"][0]["extensions"]["field"] == field


async def test_an_unknown_unit_is_not_found(units, gql, creds):
    body = await gql(FIGURES, {"period": "2026-06", "unit": "CASINO"}, as_=creds.operator())
    assert error_code(body) == "NOT_FOUND"


async def test_overlap_segments_and_referrals_over_graphql(
    units, gql, creds, uow_factory, services
):
    a, _ = await _june(uow_factory, services)
    async with uow_factory() as uow:
        await earn(uow, a, "10", "CONVENIENCE")
    await refresh(services.sessions, settings=services.settings, now=NOW + timedelta(minutes=2))
    body = await gql(
        '{ formatOverlap(period: "2026-06") { unitA { code } unitB { code } members }'
        ' memberSegments(period: "2026-06") { segment members share }'
        ' referralStats(period: "2026-06") {'
        " coefficient referrers topReferrers { member { id } } } }",
        as_=creds.operator(),
    )
    assert "errors" not in body, body
    both = [c for c in body["data"]["formatOverlap"] if c["members"]]
    assert both == [{"unitA": {"code": "HOTEL"}, "unitB": {"code": "CONVENIENCE"}, "members": 1}]
    segments = body["data"]["memberSegments"]
    assert sum(s["members"] for s in segments) == 2
    assert sum(float(s["share"]) for s in segments) == pytest.approx(1)
    assert body["data"]["referralStats"] == {
        "coefficient": "0.0000",
        "referrers": 0,
        "topReferrers": [],
    }


async def test_expiring_points_page_by_page(units, gql, creds, uow_factory):
    members = []
    for day in (20, 21, 22):  # earned a year before: they expire on June 20-22, 2026
        async with uow_factory(datetime(2025, 6, day, 4, 0, tzinfo=UTC)) as uow:
            member = await new_member(uow, "OFFICE")
            await earn(uow, member, "40", "OFFICE")
            members.append(member)
    seen, after = [], None
    while True:
        body = await gql(EXPIRING, {"days": 30, "first": 2, "after": after}, as_=creds.operator())
        assert "errors" not in body, body
        page = body["data"]["expiringPoints"]
        seen += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert [int(node["member"]["id"]) for node in seen] == members
    assert seen[0]["points"] == 40 and seen[0]["days"] == [
        {"expiresOn": "2026-06-20", "points": 40}
    ]
    week = await gql(EXPIRING, {"days": 6}, as_=creds.operator())
    assert [e["node"]["points"] for e in week["data"]["expiringPoints"]["edges"]] == [40, 40]


OVERVIEW = """query($id: ID!) {
  member(id: $id) {
    rights { code status }
    overview {
      rights { code status right { name } }
      formats { businessUnit { code } pointsEarned pointsRedeemed programmeSpend programmeVisits }
    }
  }
}"""


async def test_member_overview_has_rights_and_the_ledgers_spend_and_visits(
    units, gql, creds, uow_factory
):
    async with uow_factory(NOW - timedelta(days=2)) as uow:
        member = await new_member(uow, "HOTEL")
        await earn(uow, member, "300", "HOTEL")
        await earn(uow, member, "20", "CONVENIENCE")
    async with uow_factory() as uow:
        await earn(uow, member, "200", "HOTEL")
        await spend(uow, member, 200, "100", "HOTEL")
        lounge = RightSpec("HOTEL", "Lounge", "LOUNGE_PASS", 30, points_price=100)
        right = await create_right(uow, spec=lounge, actor="ops:test")
        await buy_right(uow, member_id=member, right_id=right.id, caller="test")
    body = await gql(OVERVIEW, {"id": str(member)}, as_=creds.operator())
    assert "errors" not in body, body
    overview = body["data"]["member"]["overview"]
    assert [r["code"] for r in overview["rights"]] == [
        r["code"] for r in body["data"]["member"]["rights"]
    ]
    assert overview["rights"][0]["right"]["name"] == "Lounge"
    formats = {f["businessUnit"]["code"]: f for f in overview["formats"]}
    assert formats["HOTEL"] == {
        "businessUnit": {"code": "HOTEL"},
        "pointsEarned": 1000,
        "pointsRedeemed": 300,  # 200 at the till, 100 for the lounge pass
        "programmeSpend": "500.00",
        "programmeVisits": 2,  # two days with an order: the spend is on the second
    }
    assert (
        formats["CONVENIENCE"]["programmeSpend"],
        formats["CONVENIENCE"]["programmeVisits"],
    ) == (
        "20.00",
        1,
    )
    assert formats["MALL"]["programmeSpend"] == "0.00"


MALL_OVERVIEW = """query($id: ID!) {
  member(id: $id) { overview { mall { orders pointsSpent openOrders lastOrderAt } } }
}"""


async def _mall_items(uow_factory) -> tuple[int, int]:
    tea = await item(uow_factory, per_member_limit=None, stock=None)
    return tea.id, (await voucher_item(uow_factory)).id


async def _mall_history(uow_factory, tea: int, museum_pass: int) -> int:
    """A member of MALL with, over the tea set (MALL ships it, 500 points) and the museum pass
    (a TOURISM voucher, 200 points): an order 400 days ago still waiting for its shipment, an
    order cancelled, an order waiting for its shipment, and a pass (fulfilled at once)."""
    then = NOW - timedelta(days=400)
    async with uow_factory(then) as uow:
        member = await new_member(uow, "MALL")
        await earn(uow, member, "1000", "HOTEL")
    async with uow_factory(then) as uow:
        await place_order(
            uow,
            member_id=member,
            item_id=tea,
            quantity=1,
            caller="test",
            payment_window=WINDOW,
            delivery_address="1 Nanjing Road",
        )
    async with uow_factory(NOW - timedelta(days=1)) as uow:
        await earn(uow, member, "1000", "HOTEL")
    cancelled = await order(uow_factory, member, tea)
    async with uow_factory() as uow:
        await cancel_order(uow, order_id=cancelled.id, caller="ops:test", reason="changed mind")
    await order(uow_factory, member, tea)
    await order(uow_factory, member, museum_pass)
    return member


async def test_member_overview_has_the_mall_per_unit_seen(units, gql, creds, uow_factory):
    member = await _mall_history(uow_factory, *await _mall_items(uow_factory))
    body = await gql(MALL_OVERVIEW, {"id": str(member)}, as_=creds.operator())
    assert "errors" not in body, body
    assert body["data"]["member"]["overview"]["mall"] == {
        "orders": 3,  # in the 12 months: the cancelled one, the tea set, the pass
        "pointsSpent": 700,  # 500 + 200: the cancelled order's points went back
        "openOrders": 2,  # both tea sets wait for their shipment, the old one too
        "lastOrderAt": NOW.isoformat(),
    }
    mine = await gql(MALL_OVERVIEW, {"id": str(member)}, as_=creds.member(member))
    assert mine["data"] == body["data"]
    # The mall's read key sees the orders of its own items only: not TOURISM's pass.
    mall_key = await creds.partner("MALL", "read")
    partner = await gql(MALL_OVERVIEW, {"id": str(member)}, as_=mall_key)
    assert "errors" not in partner, partner
    assert partner["data"]["member"]["overview"]["mall"] == {
        "orders": 2,
        "pointsSpent": 500,
        "openOrders": 2,
        "lastOrderAt": NOW.isoformat(),
    }


async def test_member_overview_mall_of_a_member_without_orders(units, gql, creds, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
    body = await gql(MALL_OVERVIEW, {"id": str(member)}, as_=creds.operator())
    assert body["data"]["member"]["overview"]["mall"] == {
        "orders": 0,
        "pointsSpent": 0,
        "openOrders": 0,
        "lastOrderAt": None,
    }


LIST_360 = """query($first: Int!) {
  members(first: $first) { edges { node { id overview {
    rights { code } mall { orders pointsSpent openOrders }
    formats { businessUnit { code } pointsEarned pointsRedeemed programmeSpend programmeVisits }
  } } } }
}"""


async def test_member_360_costs_the_same_statements_for_2_and_6_members(
    units, gql, creds, engine, uow_factory
):
    tea, museum_pass = await _mall_items(uow_factory)
    members = [await _mall_history(uow_factory, tea, museum_pass) for _ in range(6)]
    counts = {}
    for size in (2, 6):
        with count_statements(engine) as statements:
            body = await gql(LIST_360, {"first": size}, as_=creds.operator())
        assert "errors" not in body, body
        edges = body["data"]["members"]["edges"]
        assert [int(e["node"]["id"]) for e in edges] == members[:size]
        assert all(e["node"]["overview"]["mall"]["orders"] == 3 for e in edges)
        assert all(len(e["node"]["overview"]["rights"]) == 1 for e in edges)  # the pass
        counts[size] = len(statements)
    # the members page, all units, the wallets, the units' ledger, the mall: one each
    assert counts[2] == counts[6], statements
