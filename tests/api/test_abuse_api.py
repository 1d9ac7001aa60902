"""Anti-abuse over GraphQL: tills are limited, operators see and review flags, Redis down."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest
import redis.asyncio as redis

from app.bootstrap import Services
from app.main import create_app
from app.settings import AbusePolicy, Settings
from tests.api.conftest import EARN, GraphQLClient, error_code
from tests.api.test_observability import scrape, value
from tests.helpers import assert_clean, new_member

POLICY = AbusePolicy(
    member_earn_limit=3, device_earn_limit=5, device_member_limit=2, refund_loop_hold_days=7
)

FLAGS = """query($status: AbuseFlagStatus, $kind: AbuseFlagKind, $memberId: ID, $first: Int,
                 $after: String) {
  abuseFlags(status: $status, kind: $kind, memberId: $memberId, first: $first, after: $after) {
    edges { node { id kind status memberId deviceId businessUnitId detail reviewedBy reviewNote } }
    pageInfo { hasNextPage endCursor } } }"""
REVIEW = """mutation($input: ReviewAbuseFlagInput!) {
  reviewAbuseFlag(input: $input) {
    flag { id status reviewedBy reviewNote } member { id points { available pending } }
    replayed errors { code field message } } }"""
ACTIONS = """{ operatorActions(targetKind: "abuse_flag") {
  edges { node { actor action targetId reason detail } } } }"""


@pytest.fixture
def settings(redis_prefix) -> Settings:
    return Settings(redis_prefix=redis_prefix, abuse=POLICY)


@pytest.fixture
async def member(units, uow_factory) -> int:
    async with uow_factory() as uow:
        return await new_member(uow, "HOTEL")


async def flags_seen(gql, creds, **filters) -> list[dict]:
    body = await gql(FLAGS, filters, as_=creds.operator())
    assert "errors" not in body, body
    return [edge["node"] for edge in body["data"]["abuseFlags"]["edges"]]


async def test_a_member_over_the_limit_is_refused_and_ops_see_the_flag(
    member, api, creds, gql, client
):
    till = await creds.partner("HOTEL")
    for _ in range(3):
        body = await api.earn(till, member, deviceId="POS-1")
        assert body["data"]["earnPoints"]["errors"] == []
    refused = (await api.earn(till, member, deviceId="POS-1"))["data"]["earnPoints"]
    assert refused["transaction"] is None
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("LIMIT_REACHED", "memberId")]
    assert (await api.state(member))["available"] == 600

    [flag] = await flags_seen(gql, creds, status="OPEN", kind="VELOCITY")
    assert (flag["memberId"], flag["deviceId"], flag["status"]) == (str(member), "POS-1", "OPEN")
    assert flag["detail"]["limit"] == 3
    assert await flags_seen(gql, creds, kind="REFUND_LOOP") == []
    assert await flags_seen(gql, creds, memberId="999") == []

    samples = await scrape(client)
    assert value(samples, "bmg_abuse_events_total", event="refused", label="member") == 1
    assert value(samples, "bmg_abuse_events_total", event="flag", label="VELOCITY") == 1


async def test_concurrent_earns_over_the_api_stop_at_the_limit(member, api, creds):
    till = await creds.partner("HOTEL")
    bodies = await asyncio.gather(*(api.earn(till, member) for _ in range(10)))
    codes = Counter(tuple(e["code"] for e in b["data"]["earnPoints"]["errors"]) for b in bodies)
    assert codes == {(): 3, ("LIMIT_REACHED",): 7}
    assert len((await api.state(member))["transactions"]) == 3


async def test_members_registered_and_earning_on_one_device_are_flagged_once(
    units, api, creds, gql
):
    till = await creds.partner("HOTEL")
    ids = []
    for phone in ("13900000011", "13900000012", "13900000013"):
        body = await api.register(till, phone=phone, deviceId="PAD-1")
        ids.append(body["data"]["registerMember"]["member"]["id"])
    [flag] = await flags_seen(gql, creds, kind="SHARED_DEVICE")
    assert (flag["deviceId"], flag["detail"]["members"]) == ("PAD-1", 3)
    await api.earn(till, ids[0], deviceId="PAD-1")  # still over: the same open flag
    [flag] = await flags_seen(gql, creds, kind="SHARED_DEVICE")
    assert flag["detail"]["events"] == 2
    bad = await api.register(till, phone="13900000014", deviceId="D" * 65)
    assert bad["data"]["registerMember"]["errors"][0]["field"] == "deviceId"


async def test_a_refund_loop_is_held_until_an_operator_clears_it(
    member, api, creds, gql, uow_factory
):
    till = await creds.partner("HOTEL")
    first = await api.earn(till, member)
    await api.reverse(till, first["data"]["earnPoints"]["transaction"]["id"])
    again = (await api.earn(till, member))["data"]["earnPoints"]
    assert again["balance"] == {"available": 0, "pending": 200}

    [flag] = await flags_seen(gql, creds, kind="REFUND_LOOP", memberId=str(member))
    assert flag["businessUnitId"] is not None
    ops = creds.operator()
    review = {
        "flagId": flag["id"],
        "decision": "CLEAR",
        "note": "a real guest",
        "idempotencyKey": "r1",
    }
    done = await gql(REVIEW, {"input": review}, as_=ops)
    assert done["data"]["reviewAbuseFlag"]["flag"] == {
        "id": flag["id"],
        "status": "CLEARED",
        "reviewedBy": "operator:ops-1",
        "reviewNote": "a real guest",
    }
    # the released points, on the member a client's cache holds (Member:<id>)
    assert done["data"]["reviewAbuseFlag"]["member"] == {
        "id": str(member),
        "points": {"available": 200, "pending": 0},
    }
    replay = await gql(REVIEW, {"input": review}, as_=ops)
    assert replay["data"]["reviewAbuseFlag"]["replayed"] is True
    state = await api.state(member)
    assert (state["available"], state["pending"]) == (200, 0)
    assert state["transactions"][0]["kind"] == "RELEASE"

    again = await gql(REVIEW, {"input": {**review, "idempotencyKey": "r2"}}, as_=ops)
    assert again["data"]["reviewAbuseFlag"]["errors"][0]["code"] == "INVALID_INPUT"
    trail = await gql(ACTIONS, as_=ops)
    [action] = [e["node"] for e in trail["data"]["operatorActions"]["edges"]]
    assert (action["action"], action["targetId"], action["reason"]) == (
        "abuse_flag.clear",
        flag["id"],
        "a real guest",
    )
    assert action["detail"]["releasedPoints"] == 200
    assert await flags_seen(gql, creds, status="OPEN") == []
    await assert_clean(uow_factory)


async def test_flags_page_newest_first(units, api, creds, gql, uow_factory):
    till = await creds.partner("HOTEL")
    async with uow_factory() as uow:
        members = [await new_member(uow, "HOTEL") for _ in range(3)]
    for who in members:
        for _ in range(4):
            await api.earn(till, who)
    page = (await gql(FLAGS, {"first": 2}, as_=creds.operator()))["data"]["abuseFlags"]
    assert [n["node"]["memberId"] for n in page["edges"]] == [str(m) for m in members[:0:-1]]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = await gql(
        FLAGS, {"first": 2, "after": page["pageInfo"]["endCursor"]}, as_=creds.operator()
    )
    assert [n["node"]["memberId"] for n in rest["data"]["abuseFlags"]["edges"]] == [str(members[0])]
    bad = await gql(FLAGS, {"after": "nope"}, as_=creds.operator())
    assert error_code(bad) == "INVALID_INPUT"


@pytest.mark.parametrize("caller", ["anonymous", "member", "partner", "finance"])
async def test_only_ops_see_and_review_flags(member, gql, creds, caller):
    headers = {
        "anonymous": {},
        "member": creds.member(member),
        "partner": await creds.partner("HOTEL"),
        "finance": creds.operator("finance"),
    }[caller]
    expected = "UNAUTHENTICATED" if caller == "anonymous" else "FORBIDDEN"
    listed = await gql(FLAGS, {}, as_=headers)
    assert (listed["data"], error_code(listed)) == (None, expected)
    review = {"flagId": "1", "decision": "CLEAR", "note": "x"}
    reviewed = await gql(REVIEW, {"input": review}, as_=headers)
    assert (reviewed["data"], error_code(reviewed)) == (None, expected)


# --- Redis down --------------------------------------------------------------------------------


@pytest.fixture
async def dead_redis_gql(sessions, clock, redis_prefix):
    """The gateway with its Redis at a port where nothing listens; policy per test."""
    dead = redis.from_url("redis://127.0.0.1:1/0", decode_responses=True)
    apps = []

    async def make(policy: str) -> GraphQLClient:
        settings = Settings(redis_prefix=redis_prefix, abuse=AbusePolicy(redis_down=policy))
        services = Services(
            settings=settings, sessions=sessions, redis=dead, clock=lambda: clock.now
        )
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(services=services)),
            base_url="http://gateway",
        )
        apps.append(http)
        return GraphQLClient(http)

    yield make
    for http in apps:
        await http.aclose()
    await dead.aclose()


@pytest.mark.parametrize(
    ("policy", "codes", "available"), [("allow", [], 200), ("deny", ["UNAVAILABLE"], 0)]
)
async def test_redis_down_follows_the_policy(
    member, creds, api, dead_redis_gql, policy, codes, available
):
    down = await dead_redis_gql(policy)
    till = await creds.partner("HOTEL")
    variables = {
        "input": {
            "memberId": str(member),
            "businessUnitId": "HOTEL",
            "orderRef": "D1",
            "amount": "100.00",
            "idempotencyKey": "d1",
            "deviceId": "POS-1",
        }
    }
    body = await down(EARN, variables, as_=till)
    assert [e["code"] for e in body["data"]["earnPoints"]["errors"]] == codes
    assert (await api.state(member))["available"] == available
