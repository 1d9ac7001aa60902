"""Campaigns over GraphQL: ops create, update and end them (audited, typed errors, FORBIDDEN
for everyone else); previewEarn and earnPoints show CAMPAIGN and CAP lines; the campaigns
list; simulateCampaign records nothing; an earn's statements do not grow with campaigns."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.domain.shared.configuration import configuration
from app.models import Campaign, OperatorAction
from tests.api.conftest import error_code
from tests.api.test_query_counts import run_counted
from tests.campaign_helpers import add_campaign
from tests.conftest import NOW
from tests.helpers import earn, ledger_snapshot, new_member

FIELDS = """campaign { id code name kind rate points minAmount startsAt endsAt endedAt
    businessUnits { code } categories tierCodes weekdays birthdayMonth budget spent perMemberCap
    exclusiveGroup fundedByGroup funder { code } active createdBy }
    replayed errors { code field message }"""
CREATE = (
    f"""mutation($input: CreateCampaignInput!) {{ createCampaign(input: $input) {{ {FIELDS} }} }}"""
)
UPDATE = (
    f"""mutation($input: UpdateCampaignInput!) {{ updateCampaign(input: $input) {{ {FIELDS} }} }}"""
)
END = f"""mutation($input: EndCampaignInput!) {{ endCampaign(input: $input) {{ {FIELDS} }} }}"""
LIST = """query($active: Boolean, $unit: ID, $first: Int, $after: String) {
  campaigns(active: $active, businessUnitId: $unit, first: $first, after: $after) {
    edges { node { code active } } pageInfo { hasNextPage endCursor } } }"""
SIMULATE = """query($input: SimulateCampaignInput!) { simulateCampaign(input: $input) {
    points ordersExamined ordersMatched members cutByBudget cutByMemberCap budgetExhaustedAt
    perUnit { points businessUnit { code } } } }"""
PREVIEW = """query($input: EarnPointsInput!) { previewEarn(input: $input) {
    points breakdown { kind rule points detail campaignId funder } } }"""
EARN = """mutation($input: EarnPointsInput!) { earnPoints(input: $input) {
    points breakdown { kind rule points campaignId funder } errors { code } } }"""
TRAIL = """query($id: String) { operatorActions(targetKind: "campaign", targetId: $id) {
    edges { node { action actor reason detail } } } }"""


def double_week(**extra) -> dict:
    campaign = {
        "code": "MALL-DOUBLE",
        "name": "Double points week",
        "kind": "MULTIPLIER",
        "rate": "2",
        "startsAt": (NOW - timedelta(hours=1)).isoformat(),
        "endsAt": (NOW + timedelta(days=7)).isoformat(),
        "businessUnitIds": ["MALL"],
        "funderBusinessUnitId": "MALL",
        **extra,
    }
    return {"input": {"campaign": campaign, "reason": "summer sale"}}


async def rows(uow_factory, model) -> int:
    async with uow_factory() as uow:
        return await uow.session.scalar(select(func.count()).select_from(model))


async def test_ops_create_update_and_end_a_campaign_with_an_audit_trail(units, gql, creds):
    ops = creds.operator()
    body = await gql(CREATE, double_week(budget=1000), as_=ops)
    created = body["data"]["createCampaign"]
    assert created["errors"] == []
    campaign = created["campaign"]
    assert campaign["code"] == "MALL-DOUBLE" and campaign["kind"] == "MULTIPLIER"
    assert [u["code"] for u in campaign["businessUnits"]] == ["MALL"]
    assert campaign["funder"] == {"code": "MALL"} and campaign["fundedByGroup"] is False
    assert (campaign["active"], campaign["spent"], campaign["createdBy"]) == (
        True,
        0,
        "operator:ops-1",
    )
    cid = campaign["id"]

    update = {"id": cid, "budget": 5000, "funderBusinessUnitId": None, "reason": "group pays"}
    updated = (await gql(UPDATE, {"input": update}, as_=ops))["data"]["updateCampaign"]
    assert updated["errors"] == []
    assert updated["campaign"]["budget"] == 5000
    assert updated["campaign"]["fundedByGroup"] is True
    assert updated["campaign"]["rate"] == "2.0000"  # untouched fields stay

    ended = (await gql(END, {"input": {"id": cid, "reason": "stock out"}}, as_=ops))["data"]
    assert ended["endCampaign"]["campaign"]["active"] is False
    assert ended["endCampaign"]["campaign"]["endedAt"] is not None

    trail = (await gql(TRAIL, {"id": cid}, as_=ops))["data"]["operatorActions"]["edges"]
    nodes = [edge["node"] for edge in trail]
    assert [n["action"] for n in nodes] == ["campaign.end", "campaign.update", "campaign.create"]
    assert [n["reason"] for n in nodes] == ["stock out", "group pays", "summer sale"]
    assert nodes[2]["detail"]["before"] is None
    assert nodes[1]["detail"]["before"]["budget"] == 1000
    assert nodes[1]["detail"]["after"]["budget"] == 5000
    assert nodes[1]["detail"]["before"]["funder_unit_id"] is not None
    assert nodes[1]["detail"]["after"]["funder_unit_id"] is None
    assert nodes[0]["detail"]["after"]["ended_at"] is not None

    again = (await gql(END, {"input": {"id": cid}}, as_=ops))["data"]["endCampaign"]
    assert again["errors"][0]["code"] == "INVALID_INPUT"


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"rate": "1"}, "INVALID_INPUT", "rate"),
        ({"kind": "FIXED"}, "INVALID_INPUT", "points"),
        ({"kind": "THRESHOLD", "rate": "0.1"}, "INVALID_INPUT", "minAmount"),
        ({"weekdays": [0]}, "INVALID_INPUT", "weekdays"),
        ({"endsAt": (NOW - timedelta(hours=2)).isoformat()}, "INVALID_INPUT", "endsAt"),
        ({"startsAt": "2026-06-01T00:00:00"}, "INVALID_INPUT", "startsAt"),
        ({"businessUnitIds": ["SPA"]}, "NOT_FOUND", "businessUnits"),
        ({"tierCodes": ["PLATINUM"]}, "NOT_FOUND", "tiers"),
        ({"code": "bad code!"}, "INVALID_INPUT", "code"),
        ({"budget": 0}, "INVALID_INPUT", "budget"),
    ],
)
async def test_bad_definitions_are_typed_errors_and_change_nothing(
    units, gql, creds, uow_factory, change, code, field
):
    body = await gql(CREATE, double_week(**change), as_=creds.operator())
    errors = body["data"]["createCampaign"]["errors"]
    assert [(e["code"], e["field"]) for e in errors] == [(code, field)]
    assert await rows(uow_factory, Campaign) == 0
    assert await rows(uow_factory, OperatorAction) == 0


async def test_a_code_is_unique_and_a_budget_cannot_drop_below_what_was_given(
    units, gql, creds, uow_factory
):
    ops = creds.operator()
    cid = (await gql(CREATE, double_week(budget=1000), as_=ops))["data"]["createCampaign"]
    cid = cid["campaign"]["id"]
    dup = (await gql(CREATE, double_week(), as_=ops))["data"]["createCampaign"]["errors"]
    assert [(e["code"], e["field"]) for e in dup] == [("DUPLICATE", "code")]
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "300", "MALL")  # 300 bonus
    low = {"id": cid, "budget": 299}
    errors = (await gql(UPDATE, {"input": low}, as_=ops))["data"]["updateCampaign"]["errors"]
    assert [(e["code"], e["field"]) for e in errors] == [("INVALID_INPUT", "budget")]
    assert await rows(uow_factory, OperatorAction) == 1  # the create only


@pytest.mark.parametrize("caller", ["anonymous", "member", "partner", "finance"])
async def test_only_ops_change_or_simulate_campaigns(units, gql, creds, uow_factory, caller):
    async with uow_factory() as uow:
        member = await new_member(uow)
        cid = await add_campaign(uow, code="KEEP")
    headers = {
        "anonymous": {},
        "member": creds.member(member),
        "partner": await creds.partner("MALL"),
        "finance": creds.operator("finance"),
    }[caller]
    expected = "UNAUTHENTICATED" if caller == "anonymous" else "FORBIDDEN"
    simulate = {
        "input": {"campaignId": str(cid), "since": NOW.isoformat(), "until": NOW.isoformat()}
    }
    for document, variables in (
        (CREATE, double_week()),
        (UPDATE, {"input": {"id": str(cid), "name": "hacked"}}),
        (END, {"input": {"id": str(cid)}}),
        (SIMULATE, simulate),
    ):
        assert error_code(await gql(document, variables, as_=headers)) == expected
    async with uow_factory() as uow:
        row = await uow.session.get(Campaign, cid)
    assert (row.name, row.ended_at) == ("Test campaign", None)
    assert await rows(uow_factory, OperatorAction) == 1


async def test_preview_and_earn_show_campaign_and_cap_lines(units, gql, creds, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        cid = await add_campaign(uow, code="WK", budget=250, business_units=["HOTEL"])
        await add_campaign(uow, code="BIG", kind="THRESHOLD", rate="0.1", min_amount="500")
    order = {"memberId": str(member), "businessUnitId": "HOTEL", "orderRef": "R1"}
    order["amount"] = "600.00"  # base 1200
    preview = await gql(PREVIEW, {"input": order}, as_=creds.member(member))
    lines = preview["data"]["previewEarn"]["breakdown"]
    assert [(line["kind"], line["points"], line["funder"]) for line in lines] == [
        ("BASE", 1200, None),
        ("CAMPAIGN", 1200, "GROUP"),
        ("CAP", -950, "GROUP"),
        ("CAMPAIGN", 120, "GROUP"),
    ]
    assert lines[1]["campaignId"] == str(cid)
    assert preview["data"]["previewEarn"]["points"] == 1200 + 250 + 120
    hotel = await creds.partner("HOTEL")
    earned = await gql(EARN, {"input": {**order, "idempotencyKey": "k1"}}, as_=hotel)
    assert earned["data"]["earnPoints"]["points"] == 1570
    assert earned["data"]["earnPoints"]["breakdown"] == [
        {k: v for k, v in line.items() if k != "detail"} for line in lines
    ]
    again = await gql(PREVIEW, {"input": {**order, "orderRef": "R2"}}, as_=hotel)
    assert [line["kind"] for line in again["data"]["previewEarn"]["breakdown"]] == [
        "BASE",
        "CAMPAIGN",
        "CAP",
        "CAMPAIGN",
    ]
    assert again["data"]["previewEarn"]["points"] == 1200 + 120  # the budget is spent


async def test_campaigns_list_pages_filters_and_partners_see_their_running_ones(
    units, gql, creds, uow_factory
):
    from app.domain.campaigns.admin import end_campaign

    async with uow_factory() as uow:
        await add_campaign(uow, code="ALL")
        await add_campaign(uow, code="HOTEL-ONLY", business_units=["HOTEL"])
        await add_campaign(uow, code="MALL-ONLY", business_units=["MALL"])
        gone = await add_campaign(uow, code="GONE")
        await end_campaign(uow, campaign_id=gone, actor="operator:test")
    ops = creds.operator()
    page = (await gql(LIST, {"first": 2}, as_=ops))["data"]["campaigns"]
    assert [e["node"]["code"] for e in page["edges"]] == ["ALL", "HOTEL-ONLY"]
    rest = await gql(LIST, {"first": 5, "after": page["pageInfo"]["endCursor"]}, as_=ops)
    assert [e["node"]["code"] for e in rest["data"]["campaigns"]["edges"]] == ["MALL-ONLY", "GONE"]
    inactive = (await gql(LIST, {"active": False}, as_=ops))["data"]["campaigns"]["edges"]
    assert [e["node"] for e in inactive] == [{"code": "GONE", "active": False}]
    at_hotel = await gql(LIST, {"active": True, "unit": "HOTEL"}, as_=ops)
    assert [e["node"]["code"] for e in at_hotel["data"]["campaigns"]["edges"]] == [
        "ALL",
        "HOTEL-ONLY",
    ]
    partner = await gql(LIST, {}, as_=await creds.partner("MALL"))
    assert [e["node"]["code"] for e in partner["data"]["campaigns"]["edges"]] == [
        "ALL",
        "MALL-ONLY",
    ]
    async with uow_factory() as uow:
        member = await new_member(uow)
    assert error_code(await gql(LIST, {}, as_=creds.member(member))) == "FORBIDDEN"


async def test_simulation_reports_what_a_rule_would_have_given_and_records_nothing(
    units, gql, creds, uow_factory, clock
):
    async with uow_factory() as uow:
        a, b = await new_member(uow), await new_member(uow)
        for member in (a, b):
            await earn(uow, member, "600", "HOTEL")  # 1200 each
            await earn(uow, member, "100", "MALL")  # 100 each
        await earn(uow, a, "700", "HOTEL")  # 1400
    clock.advance(days=1)
    async with uow_factory() as uow:
        saved = await add_campaign(uow, code="SAVED", business_units=["HOTEL"], budget=3000)
    before = (await ledger_snapshot(uow_factory), await rows(uow_factory, Campaign))
    actions = await rows(uow_factory, OperatorAction)
    period = {"since": (NOW - timedelta(days=1)).isoformat(), "until": clock.now.isoformat()}
    ops = creds.operator()
    unsaved = {
        "code": "TRY",
        "name": "What if",
        "kind": "THRESHOLD",
        "rate": "0.1",
        "minAmount": "500",
        "startsAt": "2027-01-01T00:00:00+08:00",
        "perMemberCap": 200,
    }
    body = await gql(SIMULATE, {"input": {**period, "campaign": unsaved}}, as_=ops)
    report = body["data"]["simulateCampaign"]
    assert report == {
        "points": 120 + 120 + 80,  # a: 120 then 140 cut to 80 by the per-member cap
        "ordersExamined": 5,
        "ordersMatched": 3,
        "members": 2,
        "cutByBudget": 0,
        "cutByMemberCap": 60,
        "budgetExhaustedAt": None,
        "perUnit": [{"points": 320, "businessUnit": {"code": "HOTEL"}}],
    }
    body = await gql(SIMULATE, {"input": {**period, "campaignId": str(saved)}}, as_=ops)
    report = body["data"]["simulateCampaign"]
    assert (report["points"], report["ordersMatched"], report["cutByBudget"]) == (3000, 3, 800)
    assert report["budgetExhaustedAt"] is not None
    mall_only = {**period, "campaignId": str(saved), "businessUnitId": "MALL"}
    body = await gql(SIMULATE, {"input": mall_only}, as_=ops)
    assert body["data"]["simulateCampaign"]["ordersExamined"] == 2
    assert body["data"]["simulateCampaign"]["points"] == 0  # the campaign is for HOTEL
    both = await gql(SIMULATE, {"input": {**period}}, as_=ops)
    assert error_code(both) == "INVALID_INPUT"
    assert (await ledger_snapshot(uow_factory), await rows(uow_factory, Campaign)) == before
    assert await rows(uow_factory, OperatorAction) == actions


async def test_an_earns_statements_do_not_grow_with_the_number_of_campaigns(
    units, gql, creds, engine, uow_factory, services
):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        await add_campaign(uow, code="ONE", budget=10**6, per_member_cap=10**5)
        await configuration(uow)  # the worker's copy (read again after a change; not counted)
    hotel = await creds.partner("HOTEL")
    await gql("{ businessUnits { code } }", as_=hotel)  # the key is remembered from now on
    counts = []
    for ref in ("Q1", "Q2"):
        order = {"memberId": str(member), "businessUnitId": "HOTEL", "orderRef": ref}
        variables = {"input": {**order, "amount": "10.00", "idempotencyKey": ref}}
        body, statements = await run_counted(gql, engine, hotel, EARN, variables)
        counts.append(len(statements))
        await services.drain()  # the relay marks this earn's events now, not inside the next count
        kinds = [line["kind"] for line in body["data"]["earnPoints"]["breakdown"]]
        if ref == "Q1":
            assert kinds == ["BASE", "CAMPAIGN"]
            async with uow_factory() as uow:  # five more, each budgeted and capped
                for i in range(5):
                    await add_campaign(uow, code=f"MORE{i}", budget=10**6, per_member_cap=10**5)
                await configuration(uow)
            # A configuration change also makes workers check remembered partner keys again
            # (a revoked key moves the same version): remember it again, outside the count.
            await gql("{ businessUnits { code } }", as_=hotel)
        else:
            assert kinds == ["BASE"] + ["CAMPAIGN"] * 6
    assert counts[0] == counts[1], counts


async def test_a_replayed_create_returns_the_first_campaign_once(units, gql, creds, uow_factory):
    ops = creds.operator()
    first = await gql(
        CREATE, {"input": {**double_week()["input"], "idempotencyKey": "c1"}}, as_=ops
    )
    again = await gql(
        CREATE, {"input": {**double_week()["input"], "idempotencyKey": "c1"}}, as_=ops
    )
    assert again["data"]["createCampaign"]["replayed"] is True
    assert (
        again["data"]["createCampaign"]["campaign"] == first["data"]["createCampaign"]["campaign"]
    )
    other = double_week(name="Another name")["input"]
    conflict = await gql(CREATE, {"input": {**other, "idempotencyKey": "c1"}}, as_=ops)
    assert conflict["data"]["createCampaign"]["errors"][0]["code"] == "IDEMPOTENCY_CONFLICT"
    assert await rows(uow_factory, Campaign) == 1
    assert await rows(uow_factory, OperatorAction) == 1
