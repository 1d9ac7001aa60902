"""Member.activity and Member.overview over GraphQL: who sees which units, keyset pages merged
across units, figures from the sources and the ledger, one unit's outage failing only its part,
and statements per request that do not grow with the number of members."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx

from app.bootstrap import Services
from app.demo.format_data import seed_format_activity
from app.main import create_app
from app.sources import build_sources
from tests.api.conftest import GraphQLClient, error_code
from tests.api.test_query_counts import count_statements
from tests.conftest import NOW
from tests.fake_pms import FakePms, serving
from tests.helpers import earn, new_member, spend

ACTIVITY = """
query($id: ID!, $unit: ID, $first: Int, $after: String) {
  member(id: $id) {
    activity(businessUnitId: $unit, first: $first, after: $after) {
      edges { cursor node { kind externalRef businessUnitCode amount occurredAt detail
                            businessUnit { code } kindDetail { __typename
                              ... on StayDetail { nights roomType }
                              ... on ParkingDetail { plate minutes }
                              ... on ReceiptDetail { merchantCode category }
                              ... on OrderDetail { storeCode items } } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""

OVERVIEW = """
query($id: ID!) {
  member(id: $id) {
    points { available }
    tier { tier { code } }
    overview {
      since
      points { available }
      formats {
        businessUnit { code } source pointsEarned pointsRedeemed
        usage { spend visits lastVisitAt }
      }
    }
  }
}"""


async def member_with_history(uow_factory, home: str = "HOTEL") -> int:
    """Orders at four formats on different days, a spend, and the formats' own records."""
    async with uow_factory(NOW - timedelta(days=20)) as uow:
        member = await new_member(uow, home)
        await earn(uow, member, "880.00", unit="HOTEL")
    for days in (9, 5, 1):
        async with uow_factory(NOW - timedelta(days=days)) as uow:
            await earn(uow, member, f"{days * 10}.00", unit="MALL")
    async with uow_factory(NOW - timedelta(days=3)) as uow:
        await earn(uow, member, "23.50", unit="CONVENIENCE")
        await spend(uow, member, 100, unit="CONVENIENCE", order_amount="50")
        await earn(uow, member, "15.00", unit="TOURISM")
    async with uow_factory() as uow:
        await seed_format_activity(uow)
    return member


def nodes(body: dict) -> list[dict]:
    return [e["node"] for e in body["data"]["member"]["activity"]["edges"]]


async def test_a_member_pages_through_every_units_activity(units, gql, creds, uow_factory):
    member = await member_with_history(uow_factory)
    me = creds.member(member)
    everything = await gql(ACTIVITY, {"id": str(member), "first": 100}, as_=me)
    assert "errors" not in everything, everything
    listed = [(n["businessUnitCode"], n["kind"]) for n in nodes(everything)]
    # Mall visit 1 day ago (receipt, and its parking session when the ledger id is even), then
    # the store order 3 days ago, mall 5 and 9 days ago, the hotel stay checked in ~21 days ago.
    assert listed[-1] == ("HOTEL", "STAY") and ("CONVENIENCE", "ORDER") in listed
    assert {code for code, _ in listed} == {"HOTEL", "MALL", "CONVENIENCE"}
    times = [n["occurredAt"] for n in nodes(everything)]
    assert times == sorted(times, reverse=True)
    assert all(n["businessUnit"]["code"] == n["businessUnitCode"] for n in nodes(everything))
    typed = {n["kind"]: n["kindDetail"] for n in nodes(everything)}
    assert typed["STAY"]["__typename"] == "StayDetail" and typed["STAY"]["nights"] >= 1
    assert typed["RECEIPT"] == {
        "__typename": "ReceiptDetail",
        "merchantCode": None,
        "category": None,
    }
    assert typed["ORDER"]["storeCode"].startswith("S") and typed["ORDER"]["items"] >= 1

    pages, after = [], None
    while True:
        body = await gql(ACTIVITY, {"id": str(member), "first": 2, "after": after}, as_=me)
        connection = body["data"]["member"]["activity"]
        pages.extend(nodes(body))
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert pages == nodes(everything)

    mall = await gql(ACTIVITY, {"id": str(member), "unit": "MALL", "first": 100}, as_=me)
    assert {n["businessUnitCode"] for n in nodes(mall)} == {"MALL"}
    receipts = [n for n in nodes(mall) if n["kind"] == "RECEIPT"]
    assert [n["amount"] for n in receipts] == ["10.00", "50.00", "90.00"]


async def test_overview_joins_source_figures_with_the_ledger(units, gql, creds, uow_factory):
    member = await member_with_history(uow_factory)
    body = await gql(OVERVIEW, {"id": str(member)}, as_=creds.operator())
    assert "errors" not in body, body
    overview = body["data"]["member"]["overview"]
    assert overview["points"] == body["data"]["member"]["points"]
    formats = {f["businessUnit"]["code"]: f for f in overview["formats"]}
    assert set(formats) == {"MALL", "HOTEL", "OFFICE", "PROPERTY", "CONVENIENCE", "TOURISM"}
    hotel = formats["HOTEL"]
    assert (hotel["source"], hotel["pointsEarned"], hotel["pointsRedeemed"]) == (
        "DATABASE",
        1760,
        0,
    )
    assert hotel["usage"]["spend"] == "880.00" and hotel["usage"]["visits"] == 1
    assert formats["MALL"]["usage"]["visits"] == 3
    assert formats["CONVENIENCE"]["pointsRedeemed"] == 100
    assert formats["CONVENIENCE"]["usage"] == {
        "spend": "23.50",
        "visits": 1,
        "lastVisitAt": (NOW - timedelta(days=3)).isoformat(),
    }
    assert formats["TOURISM"]["source"] == "NONE" and formats["TOURISM"]["usage"] is None
    assert formats["TOURISM"]["pointsEarned"] == 22  # 15 CNY at 1.5 points, rounded down
    assert formats["PROPERTY"]["usage"] == {"spend": "0.00", "visits": 0, "lastVisitAt": None}


async def test_a_partner_sees_only_its_own_units_part(units, gql, creds, uow_factory):
    member = await member_with_history(uow_factory, home="HOTEL")  # known to the hotel
    hotel = await creds.partner("HOTEL", "read")
    body = await gql(ACTIVITY, {"id": str(member), "first": 100}, as_=hotel)
    assert {n["businessUnitCode"] for n in nodes(body)} == {"HOTEL"}
    mall = await gql(ACTIVITY, {"id": str(member), "unit": "MALL"}, as_=hotel)
    assert error_code(mall) == "FORBIDDEN" and mall["data"]["member"]["activity"] is None
    overview = await gql(OVERVIEW, {"id": str(member)}, as_=hotel)
    assert [
        f["businessUnit"]["code"] for f in overview["data"]["member"]["overview"]["formats"]
    ] == ["HOTEL"]
    stranger = await gql(ACTIVITY, {"id": str(member)}, as_=await creds.partner("PROPERTY", "read"))
    assert error_code(stranger) == "FORBIDDEN" and stranger["data"]["member"] is None


async def test_bad_arguments_are_typed_errors(units, gql, creds, uow_factory):
    member = await member_with_history(uow_factory)
    me = creds.member(member)
    for variables, code in (
        ({"after": "not-a-cursor"}, "INVALID_INPUT"),
        ({"unit": "SPACEPORT"}, "NOT_FOUND"),
        ({"first": -1}, "INVALID_INPUT"),
    ):
        body = await gql(ACTIVITY, {"id": str(member), **variables}, as_=me)
        assert error_code(body) == code, body


@asynccontextmanager
async def gateway(services: Services):
    app = create_app(services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield GraphQLClient(http)
    await services.sources.aclose()


def with_remote_hotel(services: Services, url: str, **options) -> Services:
    config = {"HOTEL": {"kind": "http", "url": url, "retries": 0, **options}}
    return Services(
        settings=services.settings,
        sessions=services.sessions,
        redis=services.redis,
        clock=services.clock,
        metrics=services.metrics,
        sources=build_sources(
            json.dumps(config),
            sessions=services.sessions,
            record=services.metrics.source_call,
            on_breaker=services.metrics.breaker_changed,
        ),
    )


async def test_a_remote_hotel_lists_alongside_the_database_units(
    units, services, creds, uow_factory
):
    member = await member_with_history(uow_factory)
    pms = FakePms()
    pms.add_stay(member, "PMS-1", NOW - timedelta(days=2), "1200.00")
    pms.usage[member] = {"spend": "1200.00", "visits": 2, "lastVisitAt": None}
    async with serving(pms) as url, gateway(with_remote_hotel(services, url)) as gql:
        body = await gql(ACTIVITY, {"id": str(member), "first": 100}, as_=creds.member(member))
        overview = await gql(OVERVIEW, {"id": str(member)}, as_=creds.member(member))
    hotel = [n for n in nodes(body) if n["businessUnitCode"] == "HOTEL"]
    assert [n["externalRef"] for n in hotel] == ["PMS-1"]  # the PMS, not the demo table
    assert hotel[0]["detail"] == {"nights": 1, "roomType": "DELUXE"}
    assert hotel[0]["kindDetail"] == {"__typename": "StayDetail", "nights": 1, "roomType": "DELUXE"}
    assert {n["businessUnitCode"] for n in nodes(body)} == {"HOTEL", "MALL", "CONVENIENCE"}
    formats = {
        f["businessUnit"]["code"]: f for f in overview["data"]["member"]["overview"]["formats"]
    }
    assert formats["HOTEL"]["source"] == "HTTP" and formats["HOTEL"]["usage"]["visits"] == 2


async def test_the_hotel_down_fails_only_the_hotels_part(units, services, creds, uow_factory):
    member = await member_with_history(uow_factory)
    query = """query($id: ID!) { member(id: $id) {
        points { available } tier { tier { code } }
        overview { formats { businessUnit { code } pointsEarned usage { spend }
                             activity(first: 5) { edges { node { externalRef } } } } }
        activity(first: 5) { edges { node { externalRef } } }
        mall: activity(businessUnitId: "MALL") { edges { node { kind } } }
    } }"""
    pms = FakePms()
    pms.mode = "fail"
    async with serving(pms) as url:
        remote = with_remote_hotel(services, url, failure_threshold=2, reset_after=3600)
        async with gateway(remote) as gql:
            first = await gql(query, {"id": str(member)}, as_=creds.member(member))
            hits_when_open = pms.hits
            second = await gql(query, {"id": str(member)}, as_=creds.member(member))
    for body in (first, second):
        data = body["data"]["member"]
        assert data["points"]["available"] > 0 and data["tier"]["tier"]["code"] == "NORMAL"
        assert data["activity"] is None  # the merged listing cannot be whole
        assert [e["node"]["kind"] for e in data["mall"]["edges"]]
        formats = {f["businessUnit"]["code"]: f for f in data["overview"]["formats"]}
        assert formats["HOTEL"]["usage"] is None and formats["HOTEL"]["activity"] is None
        assert formats["HOTEL"]["pointsEarned"] == 1760  # the ledger still answers
        assert formats["MALL"]["usage"]["spend"] == "150.00"
        assert formats["MALL"]["activity"]["edges"]
        assert {e["extensions"]["code"] for e in body["errors"]} == {"SOURCE_UNAVAILABLE"}
        assert {e["extensions"]["businessUnit"] for e in body["errors"]} == {"HOTEL"}
        paths = sorted(tuple(map(str, e["path"])) for e in body["errors"])
        hotel = str(list(formats).index("HOTEL"))
        assert paths == [
            ("member", "activity"),
            ("member", "overview", "formats", hotel, "activity"),
            ("member", "overview", "formats", hotel, "usage"),
        ]
    assert hits_when_open == 2  # usage, then activity: one batched call each; breaker open
    assert pms.hits == 2  # the second request never reached the PMS
    figures = remote.metrics.registry.get_sample_value
    assert figures("bmg_source_calls_total", {"unit": "HOTEL", "outcome": "error"}) == 2
    assert figures("bmg_source_calls_total", {"unit": "HOTEL", "outcome": "rejected"}) == 2
    assert figures("bmg_source_calls_total", {"unit": "MALL", "outcome": "ok"}) == 6
    assert figures("bmg_source_breaker_state", {"unit": "HOTEL"}) == 2


LIST_WITH_FORMATS = """
query($first: Int!) {
  members(first: $first) { edges { node {
    id
    overview { formats { businessUnit { code } pointsEarned usage { spend visits } } }
    activity(first: 3) { edges { node { kind businessUnit { code } } } }
  } } }
}"""
# The members page; all units; ledger points per unit; usage: one per source (HOTEL, MALL,
# PROPERTY, CONVENIENCE); activity: one per table (MALL has two: parking and receipts).
LIST_WITH_FORMATS_STATEMENTS = 12


async def test_activity_and_overview_cost_the_same_for_3_and_12_members(
    units, gql, creds, engine, uow_factory
):
    members = [await member_with_history(uow_factory) for _ in range(12)]
    counts = {}
    for size in (3, 12):
        with count_statements(engine) as statements:
            body = await gql(LIST_WITH_FORMATS, {"first": size}, as_=creds.operator())
        assert "errors" not in body, body
        edges = body["data"]["members"]["edges"]
        assert [int(e["node"]["id"]) for e in edges] == members[:size]
        assert all(len(e["node"]["activity"]["edges"]) == 3 for e in edges)
        assert all(len(e["node"]["overview"]["formats"]) == 6 for e in edges)
        counts[size] = len(statements)
        assert len(statements) == LIST_WITH_FORMATS_STATEMENTS, "\n".join(statements)
    assert counts[3] == counts[12]
