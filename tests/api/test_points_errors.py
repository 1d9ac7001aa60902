"""Bad input over the API: a typed error in the payload naming the field, nothing recorded.

Every case answers HTTP 200 with `errors { code field message }` in the mutation payload (or,
for queries, a GraphQL error carrying the code), never the masked "Internal error.", and the
member's balance and transaction list are exactly what they were before.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from app.models import IdempotencyKey, Member, MemberUnitLink, PointsTransaction
from tests.api.conftest import error_code
from tests.helpers import earn, new_member, spend


@dataclass
class Till:
    member: int
    earn_tx: int
    spend_tx: int
    hotel: dict
    ops: dict


@pytest.fixture
async def till(units, uow_factory, creds) -> Till:
    """A HOTEL member with 19,000 points: 20,000 earned on a 10,000 CNY stay, 1,000 spent."""
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL", external_id="H-1")
        earned = await earn(uow, member, "10000", unit="HOTEL")
        spent = await spend(uow, member, 1000, order_amount="1000", unit="HOTEL")
    return Till(member, earned.id, spent.id, await creds.partner("HOTEL"), creds.operator())


async def counts(uow_factory) -> tuple[int, ...]:
    async with uow_factory() as uow:
        return tuple(
            [
                await uow.session.scalar(select(func.count()).select_from(model))
                for model in (PointsTransaction, Member, MemberUnitLink, IdempotencyKey)
            ]
        )


def assert_refused(body: dict, root: str, code: str, field: str | None) -> None:
    """A payload with exactly one typed error and no result."""
    assert "errors" not in body, body
    payload = body["data"][root]
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, field)], payload
    message = payload["errors"][0]["message"]
    assert message and message != "Internal error."
    for result in ("transaction", "member", "balance", "points", "pointsSpent"):
        assert payload.get(result) is None, payload
    if "replayed" in payload:
        assert payload["replayed"] is False


# (id, caller, overrides, code, field)
EARN_CASES = [
    ("zero-amount", "hotel", {"amount": "0"}, "INVALID_INPUT", "amount"),
    ("zero-amount-with-decimals", "hotel", {"amount": "0.00"}, "INVALID_INPUT", "amount"),
    ("negative-amount", "hotel", {"amount": "-5.00"}, "INVALID_INPUT", "amount"),
    ("three-decimals", "hotel", {"amount": "10.123"}, "INVALID_INPUT", "amount"),
    ("tiny-fraction", "hotel", {"amount": "1e-5"}, "INVALID_INPUT", "amount"),
    ("not-a-number", "hotel", {"amount": "NaN"}, "INVALID_INPUT", "amount"),
    ("infinite", "hotel", {"amount": "Infinity"}, "INVALID_INPUT", "amount"),
    ("too-large", "hotel", {"amount": "100000000"}, "INVALID_INPUT", "amount"),
    ("huge-exponent", "hotel", {"amount": "1E+30"}, "INVALID_INPUT", "amount"),
    ("unknown-unit-code", "ops", {"businessUnitId": "CASINO"}, "NOT_FOUND", "businessUnitId"),
    ("unknown-unit-id", "hotel", {"businessUnitId": "99999"}, "NOT_FOUND", "businessUnitId"),
    ("unknown-member", "ops", {"memberId": "99999"}, "NOT_FOUND", "memberId"),
    ("non-numeric-member", "ops", {"memberId": "abc"}, "NOT_FOUND", "memberId"),
    ("unknown-merchant", "ops", {"merchantId": "M999"}, "NOT_FOUND", "merchantId"),
    ("empty-order-ref", "hotel", {"orderRef": "  "}, "INVALID_INPUT", "orderRef"),
    ("long-order-ref", "hotel", {"orderRef": "R" * 65}, "INVALID_INPUT", "orderRef"),
    ("missing-key", "hotel", {"idempotencyKey": None}, "INVALID_INPUT", "idempotencyKey"),
    ("blank-key", "hotel", {"idempotencyKey": "   "}, "INVALID_INPUT", "idempotencyKey"),
    ("long-key", "hotel", {"idempotencyKey": "k" * 101}, "INVALID_INPUT", "idempotencyKey"),
]

SPEND_CASES = [
    ("zero-points", "hotel", {"points": 0}, "INVALID_INPUT", "points"),
    ("negative-points", "hotel", {"points": -100}, "INVALID_INPUT", "points"),
    ("below-minimum", "hotel", {"points": 50}, "INVALID_INPUT", "points"),
    ("not-a-multiple-of-step", "hotel", {"points": 150}, "INVALID_INPUT", "points"),
    (
        "more-than-max-share",  # HOTEL: 30% of 10.00 CNY is 3.00; 400 points are worth 4.00
        "hotel",
        {"points": 400, "orderAmount": "10.00"},
        "LIMIT_REACHED",
        "points",
    ),
    (
        "more-than-balance",
        "hotel",
        {"points": 19100, "orderAmount": "100000.00"},
        "INSUFFICIENT_POINTS",
        "points",
    ),
    (
        "daily-cap",  # CONVENIENCE caps 2,000 points a day
        "ops",
        {"points": 2100, "orderAmount": "1000.00", "businessUnitId": "CONVENIENCE"},
        "LIMIT_REACHED",
        "points",
    ),
    ("three-decimals", "hotel", {"orderAmount": "10.123"}, "INVALID_INPUT", "orderAmount"),
    ("zero-order", "hotel", {"orderAmount": "0"}, "INVALID_INPUT", "orderAmount"),
    ("unknown-unit", "ops", {"businessUnitId": "CASINO"}, "NOT_FOUND", "businessUnitId"),
    ("unknown-member", "ops", {"memberId": "99999"}, "NOT_FOUND", "memberId"),
    ("empty-order-ref", "hotel", {"orderRef": ""}, "INVALID_INPUT", "orderRef"),
    ("blank-key", "ops", {"idempotencyKey": ""}, "INVALID_INPUT", "idempotencyKey"),
]


def _cases(cases):
    return [pytest.param(*case[1:], id=case[0]) for case in cases]


@pytest.mark.parametrize(("caller", "overrides", "code", "field"), _cases(EARN_CASES))
async def test_earn_refuses_bad_input(caller, overrides, code, field, till, api, uow_factory):
    before, rows = await api.state(till.member), await counts(uow_factory)
    body = await api.earn(getattr(till, caller), till.member, **overrides)
    assert_refused(body, "earnPoints", code, field)
    assert await api.state(till.member) == before
    assert await counts(uow_factory) == rows


@pytest.mark.parametrize(("caller", "overrides", "code", "field"), _cases(SPEND_CASES))
async def test_spend_refuses_bad_input(caller, overrides, code, field, till, api, uow_factory):
    before, rows = await api.state(till.member), await counts(uow_factory)
    body = await api.spend(getattr(till, caller), till.member, **overrides)
    assert_refused(body, "spendPoints", code, field)
    assert await api.state(till.member) == before
    assert await counts(uow_factory) == rows


@pytest.mark.parametrize(
    ("target", "overrides", "code", "field"),
    [
        pytest.param("99999", {}, "NOT_FOUND", "transactionId", id="unknown-transaction"),
        pytest.param("abc", {}, "NOT_FOUND", "transactionId", id="non-numeric-transaction"),
        pytest.param("earn", {"reason": " "}, "INVALID_INPUT", "reason", id="empty-reason"),
        pytest.param("earn", {"amount": "0"}, "INVALID_INPUT", "amount", id="zero-refund"),
        pytest.param("earn", {"amount": "1.001"}, "INVALID_INPUT", "amount", id="three-decimals"),
        pytest.param(
            "earn", {"amount": "10000.01"}, "INVALID_INPUT", "amount", id="refund-above-order"
        ),
        pytest.param(
            "spend", {"amount": "5.00"}, "INVALID_INPUT", "amount", id="partial-spend-cancel"
        ),
        pytest.param(
            "spend", {"idempotencyKey": " "}, "INVALID_INPUT", "idempotencyKey", id="blank-key"
        ),
    ],
)
async def test_reverse_refuses_bad_input(target, overrides, code, field, till, api, uow_factory):
    transaction = {"earn": till.earn_tx, "spend": till.spend_tx}.get(target, target)
    before, rows = await api.state(till.member), await counts(uow_factory)
    body = await api.reverse(till.hotel, transaction, **overrides)
    assert_refused(body, "reverseTransaction", code, field)
    assert await api.state(till.member) == before
    assert await counts(uow_factory) == rows


async def test_reversing_twice_is_already_reversed(till, api, uow_factory):
    first = await api.reverse(till.hotel, till.spend_tx)
    assert first["data"]["reverseTransaction"]["errors"] == []
    full_refund = await api.reverse(till.hotel, till.earn_tx)
    assert full_refund["data"]["reverseTransaction"]["errors"] == []
    before, rows = await api.state(till.member), await counts(uow_factory)
    assert_refused(
        await api.reverse(till.hotel, till.spend_tx),
        "reverseTransaction",
        "ALREADY_REVERSED",
        "transactionId",
    )
    assert_refused(
        await api.reverse(till.hotel, till.earn_tx),
        "reverseTransaction",
        "ALREADY_REVERSED",
        "transactionId",
    )
    reversal_id = first["data"]["reverseTransaction"]["transaction"]["id"]
    assert_refused(
        await api.reverse(till.hotel, reversal_id),
        "reverseTransaction",
        "INVALID_INPUT",
        "transactionId",
    )
    assert await api.state(till.member) == before
    assert await counts(uow_factory) == rows


async def test_same_order_cannot_earn_or_spend_twice(till, api, uow_factory):
    ok = await api.earn(till.hotel, till.member, orderRef="ORDER-7")
    assert ok["data"]["earnPoints"]["errors"] == []
    ok = await api.spend(till.hotel, till.member, orderRef="ORDER-7")
    assert ok["data"]["spendPoints"]["errors"] == []
    before, rows = await api.state(till.member), await counts(uow_factory)
    # New idempotency keys: a different request for an order that already earned / spent.
    assert_refused(
        await api.earn(till.hotel, till.member, orderRef="ORDER-7", amount="99.00"),
        "earnPoints",
        "DUPLICATE",
        "orderRef",
    )
    assert_refused(
        await api.spend(till.hotel, till.member, orderRef=" ORDER-7 "),
        "spendPoints",
        "DUPLICATE",
        "orderRef",
    )
    assert await api.state(till.member) == before
    assert await counts(uow_factory) == rows


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        pytest.param({"phone": "12345"}, "INVALID_INPUT", "phone", id="short-phone"),
        pytest.param({"phone": "phone-number"}, "INVALID_INPUT", "phone", id="letters"),
        pytest.param({"phone": "+1 415 555 0100"}, "INVALID_INPUT", "phone", id="foreign-phone"),
        pytest.param({"phone": "12912345678"}, "INVALID_INPUT", "phone", id="not-mobile"),
        pytest.param({"phone": "{taken}"}, "DUPLICATE", "phone", id="duplicate-phone"),
        pytest.param(
            {"phone": "+86 {taken}"}, "DUPLICATE", "phone", id="duplicate-phone-formatted"
        ),
        pytest.param({"displayName": "  "}, "INVALID_INPUT", "displayName", id="blank-name"),
        pytest.param({"displayName": "x" * 61}, "INVALID_INPUT", "displayName", id="long-name"),
        pytest.param({"birthday": "2030-01-01"}, "INVALID_INPUT", "birthday", id="future-birthday"),
        pytest.param(
            {"referralCode": "NOSUCH99"}, "NOT_FOUND", "referralCode", id="unknown-referral"
        ),
        pytest.param(
            {"businessUnitId": "CASINO"}, "NOT_FOUND", "businessUnitId", id="unknown-unit"
        ),
        pytest.param({"externalId": "H-1"}, "DUPLICATE", "externalId", id="taken-external-id"),
        pytest.param({"externalId": " "}, "INVALID_INPUT", "externalId", id="blank-external-id"),
    ],
)
async def test_register_refuses_bad_input(overrides, code, field, till, api, uow_factory):
    if "{taken}" in overrides.get("phone", ""):  # the till member's phone, however written
        async with uow_factory() as uow:
            phone = (await uow.session.get(Member, till.member)).phone
        overrides = {"phone": overrides["phone"].format(taken=f"{phone[:3]}-{phone[3:]}")}
    rows = await counts(uow_factory)
    body = await api.register(till.hotel, **overrides)
    assert_refused(body, "registerMember", code, field)
    assert await counts(uow_factory) == rows


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        pytest.param({"amount": "0"}, "INVALID_INPUT", "amount", id="zero"),
        pytest.param({"amount": "10.123"}, "INVALID_INPUT", "amount", id="three-decimals"),
        pytest.param({"businessUnitId": "CASINO"}, "NOT_FOUND", "businessUnitId", id="unit"),
        pytest.param({"merchantId": "M999"}, "NOT_FOUND", "merchantId", id="merchant"),
        pytest.param({"memberId": "99999"}, "NOT_FOUND", "memberId", id="member"),
    ],
)
async def test_preview_reports_bad_input_as_coded_errors(overrides, code, field, till, api):
    values = {
        "memberId": str(till.member),
        "businessUnitId": "HOTEL",
        "orderRef": "P1",
        "amount": "10.00",
    }
    body = await api.gql(
        "query($input: EarnPointsInput!) { previewEarn(input: $input) { points } }",
        {"input": {**values, **overrides}},
        as_=till.ops,
    )
    assert body["data"] is None
    assert error_code(body) == code, body
    assert body["errors"][0]["extensions"]["field"] == field
    assert body["errors"][0]["message"] != "Internal error."


async def test_unparseable_decimal_is_a_request_error_not_an_internal_one(till, api, uow_factory):
    rows = await counts(uow_factory)
    body = await api.earn(till.hotel, till.member, amount="ten yuan")
    assert body["data"] is None
    assert "Decimal" in body["errors"][0]["message"]
    assert body["errors"][0]["message"] != "Internal error."
    assert await counts(uow_factory) == rows


async def test_a_refused_request_does_not_use_up_its_idempotency_key(till, api, uow_factory):
    """A domain error rolls the key back with everything else, so the till may retry it."""
    request = {"points": 20000, "orderAmount": "100000.00", "idempotencyKey": "retry-me"}
    first = await api.spend(till.hotel, till.member, orderRef="BIG-1", **request)
    assert_refused(first, "spendPoints", "INSUFFICIENT_POINTS", "points")
    async with uow_factory() as uow:
        kept = select(func.count()).where(IdempotencyKey.key == "retry-me")
        assert await uow.session.scalar(kept) == 0
        # The 10,000 CNY stay made the member Silver (x1.2): 1,200 more, 20,200 available.
        await earn(uow, till.member, "500", unit="HOTEL")
    retry = await api.spend(till.hotel, till.member, orderRef="BIG-1", **request)
    body = retry["data"]["spendPoints"]
    assert body["errors"] == []
    assert body["replayed"] is False
    assert body["balance"]["available"] == 200
