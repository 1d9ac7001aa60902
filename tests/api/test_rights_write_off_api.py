"""Vouchers at the till over GraphQL: look up and write off with the write-off scope, at a unit
that may redeem the voucher, once per voucher and once per key."""

from __future__ import annotations

import pytest

from app.domain.rights.catalogue import RightSpec, create_right
from app.domain.rights.codes import shown
from app.domain.rights.wallet import buy_right
from tests.api.conftest import error_code
from tests.helpers import earn, new_member

VOUCHER = """query($code: String!) { voucher(code: $code) {
    id status right { code } usedAtUnit { code } } }"""
WRITE_OFF = """mutation($input: WriteOffVoucherInput!) { writeOffVoucher(input: $input) {
    memberRight { id status usedAt usedAtUnit { code } } replayed errors { code field } } }"""
PARKING = RightSpec(
    "MALL", "Parking", "PARKING_HOURS", 30, points_price=100, redeemable_at_unit_ids=("OFFICE",)
)


@pytest.fixture
async def code(units, uow_factory) -> str:
    async with uow_factory() as uow:
        right = await create_right(uow, spec=PARKING, actor="ops:test")
        member = await new_member(uow, "HOTEL")
        await earn(uow, member, "100.00", unit="HOTEL")
        held = await buy_right(uow, member_id=member, right_id=right.id, caller="test")
    return held.code


async def test_a_till_looks_a_voucher_up_and_writes_it_off_once(code, gql, creds):
    office = await creds.partner("OFFICE", "write-off")
    found = (await gql(VOUCHER, {"code": shown(code)}, as_=office))["data"]["voucher"]
    assert (found["status"], found["right"]["code"]) == ("ACTIVE", "MALL-PARKING")
    variables = {"input": {"code": code, "orderRef": "T-9", "idempotencyKey": "wo-1"}}
    first = (await gql(WRITE_OFF, variables, as_=office))["data"]["writeOffVoucher"]
    assert first["errors"] == [] and first["memberRight"]["status"] == "USED"
    assert first["memberRight"]["usedAtUnit"]["code"] == "OFFICE"
    again = (await gql(WRITE_OFF, variables, as_=office))["data"]["writeOffVoucher"]
    assert again["replayed"] is True and again["memberRight"]["id"] == first["memberRight"]["id"]
    other_key = {"input": {"code": code, "idempotencyKey": "wo-2"}}
    used = (await gql(WRITE_OFF, other_key, as_=office))["data"]["writeOffVoucher"]
    assert [(e["code"], e["field"]) for e in used["errors"]] == [("VOUCHER_USED", "code")]


async def test_other_units_scopes_and_bad_codes_are_refused(code, gql, creds):
    hotel = await creds.partner("HOTEL", "write-off")
    assert error_code(await gql(VOUCHER, {"code": code}, as_=hotel)) == "FORBIDDEN"
    body = await gql(WRITE_OFF, {"input": {"code": code, "idempotencyKey": "h"}}, as_=hotel)
    assert error_code(body) == "FORBIDDEN"
    no_scope = await creds.partner("MALL", "earn,spend")
    assert error_code(await gql(VOUCHER, {"code": code}, as_=no_scope)) == "FORBIDDEN"
    mall = await creds.partner("MALL", "write-off")
    typo = code[:-1] + ("A" if code[-1] != "A" else "B")
    assert error_code(await gql(VOUCHER, {"code": typo}, as_=mall)) == "NOT_FOUND"
    wrong = await gql(WRITE_OFF, {"input": {"code": typo, "idempotencyKey": "m"}}, as_=mall)
    assert [e["code"] for e in wrong["data"]["writeOffVoucher"]["errors"]] == ["NOT_FOUND"]
