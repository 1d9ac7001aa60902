"""Rights after issue over GraphQL: undoing a write-off at the till, unknown codes throttled per
key, a member returning a bought right, the tiers' recurring rights."""

from __future__ import annotations

import pytest

from app.domain.rights.catalogue import RightSpec, create_right
from app.domain.rights.codes import new_code
from app.domain.rights.wallet import buy_right
from tests.api.conftest import error_code
from tests.helpers import assert_clean, earn, new_member

WRITE_OFF = """mutation($input: WriteOffVoucherInput!) { writeOffVoucher(input: $input) {
    memberRight { status usedOrderRef } replayed errors { code field } } }"""
UNDO = """mutation($input: UndoVoucherWriteOffInput!) { undoVoucherWriteOff(input: $input) {
    memberRight { status usedAt usedAtUnit { code } } replayed errors { code field } } }"""
VOUCHER = "query($code: String!) { voucher(code: $code) { status } }"
REFUND = """mutation($input: RefundRightInput!) { refundRight(input: $input) {
    memberRight { status endReason } pointsReturned balance { available } replayed
    errors { code field } } }"""
TICKET = RightSpec(
    "TOURISM", "Ticket", "TICKET", 30, points_price=300, refundable=True,
    redeemable_at_unit_ids=("MALL",),
)  # fmt: skip


@pytest.fixture
async def bought(units, uow_factory) -> tuple[int, str, str]:
    """A member with 1,000 points who bought a ticket: (member, voucher id, code)."""
    async with uow_factory() as uow:
        right = await create_right(uow, spec=TICKET, actor="ops:test")
        member = await new_member(uow, "HOTEL")
        await earn(uow, member, "500.00", unit="HOTEL")
        held = await buy_right(uow, member_id=member, right_id=right.id, caller="test")
    return member, str(held.id), held.code


async def test_the_till_undoes_its_own_write_off_once_per_key(bought, gql, creds):
    _, _, code = bought
    tourism = await creds.partner("TOURISM", "write-off")
    mall = await creds.partner("MALL", "write-off")
    done = {"input": {"code": code, "orderRef": "T-1", "idempotencyKey": "wo"}}
    assert (await gql(WRITE_OFF, done, as_=tourism))["data"]["writeOffVoucher"]["errors"] == []
    undo = {"input": {"code": code, "reason": "wrong ticket", "idempotencyKey": "undo-1"}}
    # MALL may redeem it, but did not write it off
    assert error_code(await gql(UNDO, undo, as_=mall)) == "FORBIDDEN"
    first = (await gql(UNDO, undo, as_=tourism))["data"]["undoVoucherWriteOff"]
    assert first["errors"] == [] and first["memberRight"] == {
        "status": "ACTIVE",
        "usedAt": None,
        "usedAtUnit": None,
    }
    again = (await gql(UNDO, undo, as_=tourism))["data"]["undoVoucherWriteOff"]
    assert again["replayed"] is True and again["memberRight"]["status"] == "ACTIVE"
    other_key = {"input": {**undo["input"], "idempotencyKey": "undo-2"}}
    refused = (await gql(UNDO, other_key, as_=tourism))["data"]["undoVoucherWriteOff"]
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("INVALID_INPUT", "code")]
    no_reason = {"input": {**undo["input"], "reason": "", "idempotencyKey": "undo-3"}}
    refused = (await gql(UNDO, no_reason, as_=tourism))["data"]["undoVoucherWriteOff"]
    assert [e["field"] for e in refused["errors"]] == ["reason"]
    assert error_code(await gql(UNDO, undo, as_=creds.member(1))) == "FORBIDDEN"


async def test_unknown_codes_are_throttled_per_key(bought, gql, creds, settings):
    _, _, code = bought
    tourism = await creds.partner("TOURISM", "write-off")
    other_till = await creds.partner("TOURISM", "write-off")
    limit = settings.voucher_guess_limit
    for i in range(limit):
        guess = new_code()
        if i % 2:
            body = await gql(VOUCHER, {"code": guess}, as_=tourism)
            assert error_code(body) == "NOT_FOUND"
        else:
            variables = {"input": {"code": guess, "idempotencyKey": f"g{i}"}}
            payload = (await gql(WRITE_OFF, variables, as_=tourism))["data"]["writeOffVoucher"]
            assert [e["code"] for e in payload["errors"]] == ["NOT_FOUND"]
    # now even the right code is refused to this key, before any lookup
    assert error_code(await gql(VOUCHER, {"code": code}, as_=tourism)) == "THROTTLED"
    variables = {"input": {"code": code, "idempotencyKey": "real"}}
    payload = (await gql(WRITE_OFF, variables, as_=tourism))["data"]["writeOffVoucher"]
    assert [e["code"] for e in payload["errors"]] == ["THROTTLED"]
    # another key of the same unit is not held back by this one's guesses
    assert (await gql(VOUCHER, {"code": code}, as_=other_till))["data"]["voucher"] == {
        "status": "ACTIVE"
    }


async def test_a_member_returns_a_bought_right(bought, gql, creds, uow_factory):
    member, voucher_id, _ = bought
    me = creds.member(member)
    variables = {
        "input": {"memberRightId": voucher_id, "reason": "cannot go", "idempotencyKey": "r"}
    }
    first = (await gql(REFUND, variables, as_=me))["data"]["refundRight"]
    assert first["errors"] == [] and first["memberRight"] == {
        "status": "REFUNDED",
        "endReason": "cannot go",
    }
    assert (first["pointsReturned"], first["balance"]["available"]) == (300, 1000)
    again = (await gql(REFUND, variables, as_=me))["data"]["refundRight"]
    assert again["replayed"] is True and again["balance"]["available"] == 1000
    twice = {"input": {**variables["input"], "idempotencyKey": "r2"}}
    refused = (await gql(REFUND, twice, as_=me))["data"]["refundRight"]
    assert [e["code"] for e in refused["errors"]] == ["ALREADY_REVERSED"]
    await assert_clean(uow_factory)


async def test_tier_rights_are_read_by_anyone_and_set_by_ops(bought, gql, creds):
    set_doc = """mutation($input: SetTierRightInput!) { setTierRight(input: $input) {
        tierRight { tierCode quantity period right { code } } errors { code field } } }"""
    read_doc = """query($tier: String) { tierRights(tierCode: $tier) {
        tierCode quantity period right { code } } }"""
    ops = creds.operator()
    right_id = (await gql("{ rights { edges { node { id } } } }"))["data"]["rights"]["edges"][0]
    base = {"rightId": right_id["node"]["id"], "period": "YEAR", "tierCode": "diamond"}
    made = await gql(set_doc, {"input": {**base, "quantity": 3}}, as_=ops)
    assert made["data"]["setTierRight"]["tierRight"] == {
        "tierCode": "DIAMOND",
        "quantity": 3,
        "period": "YEAR",
        "right": {"code": "TOURISM-TICKET"},
    }
    wrong = await gql(set_doc, {"input": {**base, "quantity": 101}}, as_=ops)
    assert wrong["data"]["setTierRight"]["errors"] == [
        {"code": "INVALID_INPUT", "field": "quantity"}
    ]
    read = (await gql(read_doc, {"tier": "DIAMOND"}))["data"]["tierRights"]
    assert [(r["tierCode"], r["quantity"]) for r in read] == [("DIAMOND", 3)]
    removed = await gql(set_doc, {"input": {**base, "quantity": 0}}, as_=ops)
    assert removed["data"]["setTierRight"] == {"tierRight": None, "errors": []}
    assert (await gql(read_doc, {"tier": None}))["data"]["tierRights"] == []
