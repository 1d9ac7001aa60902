"""The catalogue of rights over GraphQL: ops create and update rights (typed errors, audited,
FORBIDDEN for everyone else); anyone reads the catalogue; the provider cost is shown only to
operators and the provider's own keys."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.models import OperatorAction, Right
from tests.api.conftest import error_code

FIELDS = """right { id code name kind faceValue providerCost pointsPrice stockRemaining
    perMemberLimit limitPeriod validDays refundable provider { code }
    eligibleTiers { code } redeemableAt { code } }
    replayed errors { code field message }"""
CREATE = f"mutation($input: CreateRightInput!) {{ createRight(input: $input) {{ {FIELDS} }} }}"
UPDATE = f"mutation($input: UpdateRightInput!) {{ updateRight(input: $input) {{ {FIELDS} }} }}"
LIST = """query($unit: ID, $first: Int, $after: String) {
  rights(businessUnitId: $unit, first: $first, after: $after) {
    edges { node { code providerCost provider { code } } } pageInfo { hasNextPage endCursor } } }"""
PARKING = {
    "businessUnitId": "MALL",
    "name": "Two parking hours",
    "kind": "PARKING_HOURS",
    "validDays": 30,
    "pointsPrice": 400,
    "stock": 1000,
    "perMemberLimit": 4,
    "limitPeriod": "MONTH",
    "faceValue": "20.00",
    "providerCost": "8.00",
    "eligibleTierCodes": ["SILVER", "GOLD", "DIAMOND"],
    "redeemableAtUnitIds": ["OFFICE"],
    "reason": "parking for members",
    "idempotencyKey": "right-parking-1",
}


async def test_ops_create_and_update_a_right_audited_and_idempotent(units, gql, creds, uow_factory):
    ops = creds.operator("ops")
    created = (await gql(CREATE, {"input": PARKING}, as_=ops))["data"]["createRight"]
    assert created["errors"] == [] and created["replayed"] is False
    right = created["right"]
    assert (right["code"], right["kind"], right["limitPeriod"]) == (
        "MALL-TWO-PARKING-HOURS",
        "PARKING_HOURS",
        "MONTH",
    )
    assert right["providerCost"] == "8.00" and right["faceValue"] == "20.00"
    assert [t["code"] for t in right["eligibleTiers"]] == ["SILVER", "GOLD", "DIAMOND"]
    assert [u["code"] for u in right["redeemableAt"]] == ["MALL", "OFFICE"]
    again = (await gql(CREATE, {"input": PARKING}, as_=ops))["data"]["createRight"]
    assert again["replayed"] is True and again["right"]["id"] == right["id"]
    changed = (await gql(UPDATE, {"input": {"rightId": right["id"], "pointsPrice": 300}}, as_=ops))[
        "data"
    ]["updateRight"]
    assert changed["errors"] == [] and changed["right"]["pointsPrice"] == 300
    assert changed["right"]["stockRemaining"] == 1000  # kept: not named
    async with uow_factory() as uow:
        actions = list(
            await uow.session.scalars(select(OperatorAction.action).order_by(OperatorAction.id))
        )
    assert actions == ["right.create", "right.update"]


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"validDays": 0}, "INVALID_INPUT", "validDays"),
        ({"pointsPrice": -5}, "INVALID_INPUT", "pointsPrice"),
        ({"eligibleTierCodes": ["PLATINUM"]}, "NOT_FOUND", "eligibleTierCodes"),
        ({"businessUnitId": "CASINO"}, "NOT_FOUND", "businessUnitId"),
    ],
)
async def test_bad_terms_are_typed_errors_and_write_nothing(
    units, gql, creds, uow_factory, changes, code, field
):
    body = await gql(
        CREATE, {"input": {**PARKING, **changes, "idempotencyKey": None}}, as_=creds.operator()
    )
    payload = body["data"]["createRight"]
    assert payload["right"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, field)]
    async with uow_factory() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Right)) == 0


@pytest.mark.parametrize("caller", ["finance", "member", "partner", "anonymous"])
async def test_only_ops_edit_the_catalogue(units, gql, creds, uow_factory, caller):
    from tests.helpers import new_member

    async with uow_factory() as uow:
        member = await new_member(uow, "MALL")
    headers = {
        "finance": creds.operator("finance"),
        "member": creds.member(member),
        "partner": await creds.partner("MALL"),
        "anonymous": {},
    }[caller]
    body = await gql(CREATE, {"input": PARKING}, as_=headers)
    assert error_code(body) in ("FORBIDDEN", "UNAUTHENTICATED")


async def test_anyone_reads_the_catalogue_and_only_insiders_see_the_provider_cost(
    units, gql, creds
):
    ops = creds.operator()
    await gql(CREATE, {"input": PARKING}, as_=ops)
    lounge = {**PARKING, "businessUnitId": "HOTEL", "name": "Lounge pass", "kind": "LOUNGE_PASS"}
    await gql(CREATE, {"input": {**lounge, "idempotencyKey": "right-lounge"}}, as_=ops)
    public = (await gql(LIST, {"first": 1}))["data"]["rights"]
    assert [e["node"]["code"] for e in public["edges"]] == ["MALL-TWO-PARKING-HOURS"]
    assert public["edges"][0]["node"]["providerCost"] is None  # nobody signed in
    rest = (await gql(LIST, {"first": 1, "after": public["pageInfo"]["endCursor"]}))["data"]
    assert [e["node"]["code"] for e in rest["rights"]["edges"]] == ["HOTEL-LOUNGE-PASS"]
    assert rest["rights"]["pageInfo"]["hasNextPage"] is False
    by_mall = await gql(LIST, {"unit": "MALL"}, as_=await creds.partner("MALL"))
    assert [e["node"]["providerCost"] for e in by_mall["data"]["rights"]["edges"]] == ["8.00"]
    by_hotel = await gql(LIST, {"unit": "MALL"}, as_=await creds.partner("HOTEL"))
    assert [e["node"]["providerCost"] for e in by_hotel["data"]["rights"]["edges"]] == [None]
    unknown = await gql(LIST, {"unit": "CASINO"})
    assert error_code(unknown) == "NOT_FOUND"
