"""Tiers over GraphQL: the `tiers` ladder, `Member.tier` and `tierHistory`, `grantTier` (ops
only, typed errors, idempotent), the tier line on earnings, and statements that stay flat."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.domain.ledger.expiry import add_months
from app.domain.tiers.standing import grant_tier
from app.models import IdempotencyKey, MemberTier, TierHistory
from tests.api.conftest import error_code
from tests.api.test_query_counts import run_counted
from tests.conftest import NOW, TZ
from tests.helpers import earn, new_member

TIERS = """{ tiers { code name rank qualifyThreshold retainThreshold earnMultiplier
    spendValueBonus discounts { businessUnitCode rate } benefits } }"""
MEMBER_TIER = """query($id: ID!) { member(id: $id) {
    tier { tier { code } validUntil since growthValue growthBasis nextTier { code }
           remainingToNext manual }
    tierHistory { fromTier toTier reason source validUntil at } } }"""
GRANT = """mutation($input: GrantTierInput!) { grantTier(input: $input) {
    member { id } tier { tier { code } validUntil manual } replayed
    errors { code field message } } }"""


def iso(moment) -> str:
    return moment.astimezone(NOW.tzinfo).isoformat()


def in_months(months: int, moment=NOW) -> str:
    return iso(add_months(moment.astimezone(TZ), months))


async def tier_rows(uow_factory) -> tuple[int, int, int]:
    async with uow_factory() as uow:
        return tuple(
            [
                await uow.session.scalar(select(func.count()).select_from(model))
                for model in (MemberTier, TierHistory, IdempotencyKey)
            ]
        )


async def test_tiers_lists_the_ladder_for_anyone(units, gql):
    body = await gql(TIERS)
    assert "errors" not in body, body
    tiers = body["data"]["tiers"]
    assert [(t["code"], t["rank"]) for t in tiers] == [
        ("NORMAL", 0),
        ("SILVER", 1),
        ("GOLD", 2),
        ("DIAMOND", 3),
    ]
    gold = tiers[2]
    assert (gold["qualifyThreshold"], gold["retainThreshold"]) == ("20000.00", "12000.00")
    assert (gold["earnMultiplier"], gold["spendValueBonus"]) == ("1.500", "0.0500")
    assert {"businessUnitCode": "HOTEL", "rate": "0.20"} in gold["discounts"]
    assert "2 free parking hours a month" in gold["benefits"]
    assert tiers[0]["discounts"] == [] and tiers[3]["earnMultiplier"] == "2.000"


async def test_a_new_member_is_normal_with_progress_to_silver(units, gql, creds, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
    body = await gql(MEMBER_TIER, {"id": str(member)}, as_=creds.member(member))
    assert "errors" not in body, body
    assert body["data"]["member"] == {
        "tier": {
            "tier": {"code": "NORMAL"},
            "validUntil": None,
            "since": None,
            "growthValue": "0.00",
            "growthBasis": "SPEND",
            "nextTier": {"code": "SILVER"},
            "remainingToNext": "5000.00",
            "manual": False,
        },
        "tierHistory": [],
    }


async def test_crossing_order_upgrades_and_the_next_order_shows_the_tier_line(
    units, gql, api, creds, uow_factory, clock
):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
    hotel = await creds.partner("HOTEL")
    crossing = await api.earn(hotel, member, amount="4200.00")  # x1.2 weight: 5,040.00
    assert crossing["data"]["earnPoints"]["points"] == 8400  # still Normal for this order
    body = await gql(MEMBER_TIER, {"id": str(member)}, as_=hotel)
    tier = body["data"]["member"]["tier"]
    assert tier == {
        "tier": {"code": "SILVER"},
        "validUntil": in_months(12, clock.now),
        "since": iso(clock.now),
        "growthValue": "5040.00",
        "growthBasis": "SPEND",
        "nextTier": {"code": "GOLD"},
        "remainingToNext": "14960.00",
        "manual": False,
    }
    assert body["data"]["member"]["tierHistory"] == [
        {
            "fromTier": "NORMAL",
            "toTier": "SILVER",
            "reason": "growth 5040.00 >= 5000.00 (SILVER qualification)",
            "source": "AUTO",
            "validUntil": in_months(12, clock.now),
            "at": iso(clock.now),
        }
    ]
    query = """mutation($input: EarnPointsInput!) { earnPoints(input: $input) {
        points breakdown { kind rule points } errors { code } } }"""
    nxt = await gql(
        query,
        {
            "input": {
                "memberId": str(member),
                "businessUnitId": "HOTEL",
                "orderRef": "NEXT-1",
                "amount": "100.00",
                "idempotencyKey": "next-1",
            }
        },
        as_=hotel,
    )
    assert nxt["data"]["earnPoints"] == {
        "points": 240,
        "breakdown": [
            {"kind": "BASE", "rule": "base:HOTEL", "points": 200},
            {"kind": "TIER", "rule": "tier:SILVER x1.2", "points": 40},
        ],
        "errors": [],
    }


async def test_who_made_a_change_is_for_operators(units, gql, creds, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        await grant_tier(
            uow,
            member_id=member,
            tier="GOLD",
            until=NOW + timedelta(days=30),
            reason="launch guest",
            actor="operator:ops-7",
        )
    query = "query($id: ID!) { member(id: $id) { tierHistory { reason actor } } }"
    as_ops = await gql(query, {"id": str(member)}, as_=creds.operator())
    assert as_ops["data"]["member"]["tierHistory"] == [
        {"reason": "launch guest", "actor": "operator:ops-7"}
    ]
    as_member = await gql(query, {"id": str(member)}, as_=creds.member(member))
    assert error_code(as_member) == "FORBIDDEN"


async def test_ops_grant_a_tier_until_a_date(units, gql, creds, uow_factory, clock):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
    until = in_months(3)
    variables = {
        "input": {
            "memberId": str(member),
            "tierCode": "gold",
            "until": until,
            "reason": "hotel complaint compensation",
            "idempotencyKey": "grant-1",
        }
    }
    body = await gql(GRANT, variables, as_=creds.operator())
    assert body["data"]["grantTier"] == {
        "member": {"id": str(member)},
        "tier": {"tier": {"code": "GOLD"}, "validUntil": until, "manual": True},
        "replayed": False,
        "errors": [],
    }
    again = await gql(GRANT, variables, as_=creds.operator())
    assert again["data"]["grantTier"]["replayed"] is True
    seen = await gql(MEMBER_TIER, {"id": str(member)}, as_=creds.member(member))
    member_view = seen["data"]["member"]
    assert member_view["tier"]["manual"] is True
    assert member_view["tier"]["nextTier"] == {"code": "DIAMOND"}
    assert [(h["source"], h["toTier"], h["reason"]) for h in member_view["tierHistory"]] == [
        ("MANUAL", "GOLD", "hotel complaint compensation")
    ]


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"until": "2026-06-01T00:00:00+08:00"}, "INVALID_INPUT", "until"),  # in the past
        ({"reason": "  "}, "INVALID_INPUT", "reason"),
        ({"tierCode": "PLATINUM"}, "NOT_FOUND", "tierCode"),
        ({"memberId": "999999"}, "NOT_FOUND", "memberId"),
    ],
)
async def test_grant_refusals_are_typed_and_record_nothing(
    units, gql, creds, uow_factory, changes, code, field
):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
    before = await tier_rows(uow_factory)
    values = {
        "memberId": str(member),
        "tierCode": "SILVER",
        "until": in_months(1),
        "reason": "goodwill",
        "idempotencyKey": "grant-x",
    }
    body = await gql(GRANT, {"input": values | changes}, as_=creds.operator())
    payload = body["data"]["grantTier"]
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, field)]
    assert payload["member"] is None and payload["tier"] is None
    assert await tier_rows(uow_factory) == before


@pytest.mark.parametrize(
    ("caller", "expected"),
    [
        ("anonymous", "UNAUTHENTICATED"),
        ("member", "FORBIDDEN"),
        ("partner", "FORBIDDEN"),
        ("finance", "FORBIDDEN"),
    ],
)
async def test_only_ops_may_grant(units, gql, creds, uow_factory, caller, expected):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
    headers = {
        "anonymous": {},
        "member": creds.member(member),
        "partner": await creds.partner("HOTEL", "earn,spend,write-off,read"),
        "finance": creds.operator("finance"),
    }[caller]
    before = await tier_rows(uow_factory)
    variables = {
        "input": {
            "memberId": str(member),
            "tierCode": "DIAMOND",
            "until": in_months(1),
            "reason": "self-service",
        }
    }
    body = await gql(GRANT, variables, as_=headers)
    assert error_code(body) == expected, body
    assert body["data"] is None
    assert await tier_rows(uow_factory) == before


# --- statements stay flat -----------------------------------------------------------------------

MEMBERS_WITH_TIERS = """
query($first: Int!) {
  members(first: $first) {
    edges { node {
      id
      tier { tier { code discounts { rate } } validUntil growthValue nextTier { code }
             remainingToNext manual }
      tierHistory { fromTier toTier reason source at }
    } }
  }
}"""
# The members page, the ladder (tiers, programme), then one batch each: member_tiers,
# growth values, tier history.
TIER_STATEMENTS = 6


async def test_member_tiers_cost_the_same_for_5_and_40(units, gql, creds, engine, uow_factory):
    amounts = ("300", "6000", "21000", "61000")  # Normal, Silver, Gold, Diamond
    async with uow_factory() as uow:
        for i in range(40):
            member = await new_member(uow, "HOTEL")
            await earn(uow, member, amounts[i % 4], unit="OFFICE")
            if i % 5 == 0:
                await grant_tier(
                    uow,
                    member_id=member,
                    tier="DIAMOND",
                    until=NOW + timedelta(days=60),
                    reason="pilot",
                    actor="ops",
                )
    counts = {}
    for size in (5, 40):
        body, statements = await run_counted(
            gql, engine, creds.operator(), MEMBERS_WITH_TIERS, {"first": size}
        )
        nodes = [edge["node"] for edge in body["data"]["members"]["edges"]]
        assert len(nodes) == size
        codes = {node["tier"]["tier"]["code"] for node in nodes}
        assert {"NORMAL", "SILVER", "DIAMOND"} <= codes
        assert all(node["tier"]["growthValue"] != "0.00" for node in nodes)
        assert sum(bool(node["tierHistory"]) for node in nodes) >= size * 3 // 4 - 1
        counts[size] = len(statements)
        assert len(statements) == TIER_STATEMENTS, "\n".join(statements)
    assert counts[5] == counts[40]


async def test_preview_prices_the_members_tier(units, gql, creds, uow_factory, clock):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        await grant_tier(
            uow,
            member_id=member,
            tier="GOLD",
            until=clock.now + timedelta(days=90),
            reason="VIP guest",
            actor="test",
        )
    body = await gql(
        "query($i: EarnPointsInput!) "
        "{ previewEarn(input: $i) { points breakdown { kind points } } }",
        {
            "i": {
                "memberId": str(member),
                "businessUnitId": "HOTEL",
                "orderRef": "P1",
                "amount": "100.00",
            }
        },
        as_=await creds.partner("HOTEL"),
    )
    preview = body["data"]["previewEarn"]
    assert preview["breakdown"] == [
        {"kind": "BASE", "points": 200},
        {"kind": "TIER", "points": 100},
    ]
    assert preview["points"] == 300


async def test_a_tier_past_its_validity_reads_as_the_rules_say_it_is_now(
    units, gql, creds, uow_factory, clock
):
    """Before the tier job runs, `Member.tier` must not show a tier whose validity has ended:
    it reads what the end-of-validity rules make of it now, and writes nothing."""
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        await grant_tier(
            uow,
            member_id=member,
            tier="GOLD",
            until=clock.now + timedelta(days=30),
            reason="VIP guest",
            actor="test",
        )
    me = creds.member(member)
    during = (await gql(MEMBER_TIER, {"id": str(member)}, as_=me))["data"]["member"]["tier"]
    assert (during["tier"], during["manual"]) == ({"code": "GOLD"}, True)
    stored = await tier_rows(uow_factory)

    clock.now += timedelta(days=31)  # the grant has ended; no job has run
    after = (await gql(MEMBER_TIER, {"id": str(member)}, as_=me))["data"]["member"]
    assert after["tier"]["tier"] == {"code": "NORMAL"}  # no growth to keep or support more
    assert (after["tier"]["validUntil"], after["tier"]["manual"]) == (None, False)
    assert after["tier"]["nextTier"] == {"code": "SILVER"}
    assert [h["toTier"] for h in after["tierHistory"]] == ["GOLD"]  # history as recorded
    assert await tier_rows(uow_factory) == stored  # read as it is, nothing written
