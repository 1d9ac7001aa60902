"""Activities over GraphQL: recordActivity for oneself or a visible member, idempotent replays,
caps (also under concurrent requests), progress, rules edited by ops, referral rewards."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from app.domain.engagement.rule_book import seed_activity_rules
from app.domain.members.identity import get_member
from app.models import ActivityEvent, OperatorAction, PointsLot, PointsTransaction
from app.platform.pubsub import points_channel
from tests.api.conftest import error_code
from tests.helpers import assert_clean, ledger_snapshot, new_member

RECORD = """
mutation($input: RecordActivityInput!) {
  recordActivity(input: $input) {
    transaction { id kind points source rule businessUnit { code } }
    points streak replayed breakdown { kind rule points }
    balance { available }
    errors { code field message }
  }
}"""
PROGRESS = """
query($id: ID) {
  activityProgress(memberId: $id) {
    memberId checkedInToday streak checkInsToBonus
    allowances { kind usedToday dailyCap remainingToday usedTotal lifetimeCap }
  }
}"""
RULES = "{ activityRules { kind points dailyCap lifetimeCap streakDays streakBonus active } }"
UPDATE = """
mutation($input: UpdateActivityRuleInput!) {
  updateActivityRule(input: $input) {
    rule { kind points dailyCap lifetimeCap active } replayed errors { code field }
  }
}"""


@pytest.fixture
async def rules(units, uow_factory):
    async with uow_factory() as uow:
        await seed_activity_rules(uow)
    return units


async def member_at(uow_factory, unit: str = "HOTEL", **extra) -> int:
    async with uow_factory() as uow:
        return await new_member(uow, unit, **extra)


def record(kind: str, key: str, **extra) -> dict:
    return {"input": {"kind": kind, "idempotencyKey": key, **extra}}


def payload(body: dict) -> dict:
    assert "errors" not in body, body
    return body["data"]["recordActivity"]


async def test_a_member_checks_in_for_themself_and_a_replay_returns_the_first_result(
    rules, gql, creds, uow_factory, redis_client, settings
):
    member = await member_at(uow_factory)
    as_member = creds.member(member)
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(points_channel(settings.redis_prefix, member))
    await pubsub.get_message(timeout=1)  # the subscription confirmation

    first = payload(await gql(RECORD, record("CHECK_IN", "c1"), as_=as_member))
    assert first["errors"] == []
    assert (first["points"], first["streak"], first["replayed"]) == (10, 1, False)
    assert first["transaction"]["kind"] == "ACTIVITY"
    assert first["transaction"]["businessUnit"]["code"] == "HOTEL"
    assert first["balance"]["available"] == 110  # 100 for registering
    assert first["breakdown"] == [{"kind": "ACTIVITY", "rule": "activity:CHECK_IN", "points": 10}]
    message = await pubsub.get_message(timeout=2)
    assert message is not None and message["type"] == "message"
    await pubsub.aclose()

    again = payload(await gql(RECORD, record("CHECK_IN", "c1"), as_=as_member))
    assert again["replayed"] is True
    assert again["transaction"]["id"] == first["transaction"]["id"]
    assert again["streak"] == 1
    conflict = payload(await gql(RECORD, record("SHARE", "c1"), as_=as_member))
    assert conflict["errors"][0]["code"] == "IDEMPOTENCY_CONFLICT"
    before = await ledger_snapshot(uow_factory)
    twice = payload(await gql(RECORD, record("CHECK_IN", "c2"), as_=as_member))
    assert (twice["errors"][0]["code"], twice["transaction"]) == ("LIMIT_REACHED", None)
    assert await ledger_snapshot(uow_factory) == before
    # the key is required by the schema (String!): refused before anything runs
    missing_key = await gql(RECORD, {"input": {"kind": "SHARE"}}, as_=as_member)
    assert missing_key["data"] is None and "idempotencyKey" in missing_key["errors"][0]["message"]
    blank_key = payload(await gql(RECORD, record("SHARE", "  "), as_=as_member))
    assert blank_key["errors"][0]["field"] == "idempotencyKey"
    assert await ledger_snapshot(uow_factory) == before

    progress = await gql(PROGRESS, {}, as_=as_member)
    state = progress["data"]["activityProgress"]
    assert (state["memberId"], state["checkedInToday"], state["streak"]) == (str(member), True, 1)
    assert state["checkInsToBonus"] == 6
    share = next(a for a in state["allowances"] if a["kind"] == "SHARE")
    assert share == {
        "kind": "SHARE",
        "usedToday": 0,
        "dailyCap": 2,
        "remainingToday": 2,
        "usedTotal": 0,
        "lifetimeCap": 100,
    }
    await assert_clean(uow_factory)


async def test_who_may_record_for_whom(rules, gql, creds, uow_factory):
    member = await member_at(uow_factory, "HOTEL")
    other = await member_at(uow_factory, "MALL")
    hotel = await creds.partner("HOTEL", "earn")
    hotel_reader = await creds.partner("HOTEL", "read")
    before = await ledger_snapshot(uow_factory)

    refused = [
        ({}, "UNAUTHENTICATED", {"memberId": str(member)}),
        (creds.member(member), "FORBIDDEN", {"memberId": str(other)}),
        (creds.operator("finance"), "FORBIDDEN", {"memberId": str(member)}),
        (hotel, "FORBIDDEN", {"memberId": str(other)}),  # never presented to HOTEL
        (hotel, "FORBIDDEN", {"memberId": "99999"}),  # unknown looks the same to a partner
        (hotel_reader, "FORBIDDEN", {"memberId": str(member)}),  # needs the earn scope
    ]
    for i, (headers, code, extra) in enumerate(refused):
        body = await gql(RECORD, record("SHARE", f"r{i}", **extra), as_=headers)
        assert error_code(body) == code, (i, body)
    ops = creds.operator()
    unnamed = payload(await gql(RECORD, record("SHARE", "o1"), as_=ops))
    assert unnamed["errors"][0]["field"] == "memberId"
    unknown = payload(await gql(RECORD, record("SHARE", "o2", memberId="99999"), as_=ops))
    assert unknown["errors"][0]["code"] == "NOT_FOUND"
    assert await ledger_snapshot(uow_factory) == before
    mine = payload(
        await gql(RECORD, record("SHARE", "m1", memberId=str(member)), as_=creds.member(member))
    )
    assert mine["points"] == 50

    by_ops = payload(await gql(RECORD, record("SURVEY", "o3", memberId=str(other)), as_=ops))
    assert (by_ops["points"], by_ops["transaction"]["businessUnit"]["code"]) == (20, "MALL")
    # a partner till records for a member it knows, in its own unit's name
    by_till = payload(
        await gql(RECORD, record("REVIEW", "h1", memberId=str(member), reference="rv-9"), as_=hotel)
    )
    assert (by_till["points"], by_till["transaction"]["businessUnit"]["code"]) == (30, "HOTEL")
    async with uow_factory() as uow:
        lot = await uow.session.scalar(
            select(PointsLot).where(PointsLot.transaction_id == int(by_till["transaction"]["id"]))
        )
    assert (lot.issuer_unit_id, lot.funder_unit_id) == (rules["HOTEL"], None)
    assert error_code(await gql(PROGRESS, {"id": str(other)}, as_=creds.member(member))) == (
        "FORBIDDEN"
    )
    assert error_code(await gql(PROGRESS, {"id": str(other)}, as_=hotel_reader)) == "FORBIDDEN"
    seen = await gql(PROGRESS, {"id": str(member)}, as_=hotel_reader)
    assert seen["data"]["activityProgress"]["memberId"] == str(member)
    await assert_clean(uow_factory)


async def test_concurrent_requests_never_pass_a_cap(rules, gql, creds, uow_factory):
    member = await member_at(uow_factory)
    as_member = creds.member(member)
    bodies = await asyncio.gather(
        *(gql(RECORD, record("SHARE", f"s{i}"), as_=as_member) for i in range(8))
    )
    outcomes = sorted(
        (payload(b)["errors"][0]["code"] if payload(b)["errors"] else "OK") for b in bodies
    )
    assert outcomes == ["LIMIT_REACHED"] * 6 + ["OK"] * 2
    async with uow_factory() as uow:
        shares = await uow.session.scalar(
            select(func.count()).where(
                ActivityEvent.member_id == member, ActivityEvent.kind == "SHARE"
            )
        )
    assert shares == 2
    await assert_clean(uow_factory)


async def test_operators_edit_rules_and_everyone_reads_them(rules, gql, creds, uow_factory):
    listed = (await gql(RULES))["data"]["activityRules"]
    assert [r["kind"] for r in listed] == [
        "REGISTRATION",
        "CHECK_IN",
        "SHARE",
        "REVIEW",
        "SURVEY",
        "REFERRAL",
        "BIRTHDAY",
    ]
    assert listed[1] == {
        "kind": "CHECK_IN",
        "points": 10,
        "dailyCap": 1,
        "lifetimeCap": None,
        "streakDays": 7,
        "streakBonus": 200,
        "active": True,
    }
    change = {"kind": "SHARE", "reason": "campaign", "points": 80, "dailyCap": None}
    member = await member_at(uow_factory)
    denied = await gql(UPDATE, {"input": change}, as_=creds.member(member))
    assert error_code(denied) == "FORBIDDEN"
    done = (await gql(UPDATE, {"input": change}, as_=creds.operator()))["data"]
    rule = done["updateActivityRule"]["rule"]
    assert (rule["points"], rule["dailyCap"], rule["lifetimeCap"]) == (80, None, 100)
    bad = {"kind": "CHECK_IN", "reason": "oops", "dailyCap": 3}
    refused = (await gql(UPDATE, {"input": bad}, as_=creds.operator()))["data"]
    assert refused["updateActivityRule"]["errors"] == [
        {"code": "INVALID_INPUT", "field": "dailyCap"}
    ]
    async with uow_factory() as uow:
        actions = list(await uow.session.scalars(select(OperatorAction)))
    assert [(a.action, a.target_id, a.actor, a.detail["to"]) for a in actions] == [
        ("activity_rule.update", "SHARE", "operator:ops-1", {"points": 80, "daily_cap": None})
    ]
    as_member = creds.member(member)
    points = [
        payload(await gql(RECORD, record("SHARE", f"k{i}"), as_=as_member))["points"]
        for i in range(3)
    ]
    assert points == [80, 80, 80]  # no daily cap any more


async def test_register_with_a_referral_code_and_the_first_purchase_pays_the_referrer(
    rules, api, creds, uow_factory
):
    referrer = await member_at(uow_factory, "MALL")
    async with uow_factory() as uow:
        code = (await get_member(uow, referrer)).referral_code
    hotel = await creds.partner("HOTEL")
    body = await api.register(hotel, referralCode=code)
    referred = int(body["data"]["registerMember"]["member"]["id"])
    unknown = await api.register(hotel, phone="13900000002", referralCode="ZZZZ9999")
    assert unknown["data"]["registerMember"]["errors"][0]["field"] == "referralCode"

    assert (await api.state(referred))["available"] == 100
    await api.earn(hotel, referred, amount="100.00")
    await api.earn(hotel, referred, amount="300.00")
    state = await api.state(referrer)
    assert state["available"] == 300
    assert [t["kind"] for t in state["transactions"]] == ["ACTIVITY", "ACTIVITY"]
    async with uow_factory() as uow:
        reward = await uow.session.scalar(
            select(PointsTransaction).where(PointsTransaction.source == "REFERRAL")
        )
    assert (reward.member_id, reward.points, reward.detail["referred_member_id"]) == (
        referrer,
        200,
        referred,
    )
    await assert_clean(uow_factory)


async def test_the_referrer_hears_of_the_reward_live(
    rules, api, creds, uow_factory, redis_client, settings
):
    referrer = await member_at(uow_factory, "MALL")
    async with uow_factory() as uow:
        code = (await get_member(uow, referrer)).referral_code
    hotel = await creds.partner("HOTEL")
    body = await api.register(hotel, referralCode=code)
    referred = int(body["data"]["registerMember"]["member"]["id"])
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(
        points_channel(settings.redis_prefix, referrer),
        points_channel(settings.redis_prefix, referred),
    )
    for _ in range(2):
        await pubsub.get_message(timeout=1)  # the subscription confirmations
    await api.earn(hotel, referred, amount="100.00")
    heard = set()
    for _ in range(2):
        message = await pubsub.get_message(timeout=2)
        assert message is not None and message["type"] == "message"
        heard.add(message["channel"])
    assert heard == {
        points_channel(settings.redis_prefix, referrer),
        points_channel(settings.redis_prefix, referred),
    }
    await pubsub.aclose()


async def test_an_activity_entry_cannot_be_reversed(rules, api, gql, creds, uow_factory, clock):
    clock.now = datetime(2026, 6, 15, 4, 0, tzinfo=UTC)
    member = await member_at(uow_factory)
    done = payload(await gql(RECORD, record("SURVEY", "s1"), as_=creds.member(member)))
    body = await api.reverse(creds.operator(), done["transaction"]["id"])
    assert body["data"]["reverseTransaction"]["errors"][0]["code"] == "INVALID_INPUT"
    await assert_clean(uow_factory)


async def test_a_replayed_registration_grants_the_welcome_points_once(
    rules, api, creds, uow_factory
):
    hotel = await creds.partner("HOTEL")
    first = await api.register(hotel, idempotencyKey="reg-1")
    again = await api.register(hotel, idempotencyKey="reg-1")
    member = first["data"]["registerMember"]["member"]["id"]
    assert again["data"]["registerMember"]["member"]["id"] == member
    state = await api.state(member)
    assert (state["available"], [t["kind"] for t in state["transactions"]]) == (100, ["ACTIVITY"])
    await assert_clean(uow_factory)
