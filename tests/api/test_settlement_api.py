"""Settlement over the API: statements for finance, ops and a unit's own key; closing by
finance; the CSV behind `csvUrl`, fetched with the same credential and parsed back."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import text

from app.domain.settlement.periods import Period
from app.domain.settlement.statements import compute_open
from app.domain.settlement.terms import set_group_terms
from tests.api.conftest import error_code
from tests.helpers import earn, new_member, spend

STATEMENT = """
query($period: String!, $unit: ID) {
  settlementStatement(period: $period, businessUnitId: $unit) {
    period status closedAt csvUrl
    parties { party businessUnit { code } payableAmount receivableAmount netAmount
              issuedPoints liabilityPoints redeemedInHousePoints }
    matrix { issuer redeemer points amount }
    lines { kind funder redeemer points amount }
    adjustments { kind points amount originalTransactionId originalPeriod }
  }
}"""
CLOSE = """
mutation($period: String!) {
  closeSettlementPeriod(period: $period) {
    statement { status closedAt parties { party netAmount } }
    errors { code field message }
  }
}"""


@pytest.fixture
async def cross_format(units, uow_factory):
    """1,000 HOTEL points redeemed at OFFICE in June 2026."""
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        await earn(uow, member, "2500", unit="HOTEL")
        spent = await spend(uow, member, 1000, "100000", unit="OFFICE")
    return spent


async def statement(gql, as_, period="2026-06", unit=None) -> dict:
    return await gql(STATEMENT, {"period": period, "unit": unit}, as_=as_)


async def test_finance_and_ops_read_every_party(cross_format, gql, creds):
    for role in ("finance", "ops"):
        body = await statement(gql, creds.operator(role))
        assert "errors" not in body, body
        data = body["data"]["settlementStatement"]
        assert data["status"] == "OPEN" and data["csvUrl"] == "/settlement/2026-06.csv"
        by_party = {p["party"]: p for p in data["parties"]}
        assert set(by_party) >= {"GROUP", "HOTEL", "OFFICE", "MALL"}
        assert by_party["HOTEL"]["payableAmount"] == "10.00"
        assert by_party["OFFICE"]["receivableAmount"] == "10.00"
        assert by_party["OFFICE"]["businessUnit"] == {"code": "OFFICE"}
        assert by_party["GROUP"]["businessUnit"] is None
        assert sum(Decimal(p["netAmount"]) for p in data["parties"]) == 0
        assert data["matrix"] == [
            {"issuer": "HOTEL", "redeemer": "OFFICE", "points": 1000, "amount": "10.00"}
        ]


async def test_a_units_settlement_key_reads_its_own_party_only(cross_format, gql, creds):
    office = await creds.partner("OFFICE", scopes="settlement")
    body = await statement(gql, office)
    data = body["data"]["settlementStatement"]
    assert [p["party"] for p in data["parties"]] == ["OFFICE"]
    assert data["csvUrl"] == "/settlement/2026-06.csv?businessUnitId=OFFICE"
    assert error_code(await statement(gql, office, unit="HOTEL")) == "FORBIDDEN"
    assert error_code(await statement(gql, office, unit="GROUP")) == "FORBIDDEN"
    group = (await statement(gql, creds.operator("finance"), unit="GROUP"))["data"]
    assert [p["party"] for p in group["settlementStatement"]["parties"]] == ["GROUP"]
    assert error_code(await statement(gql, office, unit="OFFICE")) is None
    # a key of the unit without the scope, and a member, are refused
    assert error_code(await statement(gql, await creds.partner("OFFICE"))) == "FORBIDDEN"
    assert error_code(await statement(gql, {})) == "UNAUTHENTICATED"


@pytest.mark.parametrize("period", ["2026-13", "abc", "2026-1"])
async def test_a_malformed_period_is_a_typed_error(units, gql, creds, period):
    body = await statement(gql, creds.operator("finance"), period=period)
    assert error_code(body) == "INVALID_INPUT"
    closing = await gql(CLOSE, {"period": period}, as_=creds.operator("finance"))
    assert closing["data"]["closeSettlementPeriod"]["errors"][0]["code"] == "INVALID_INPUT"


async def test_finance_closes_a_period_once_it_is_over(cross_format, gql, creds, clock):
    finance = creds.operator("finance")
    early = await gql(CLOSE, {"period": "2026-06"}, as_=finance)
    assert early["data"]["closeSettlementPeriod"]["errors"][0]["code"] == "INVALID_INPUT"
    assert error_code(await gql(CLOSE, {"period": "2026-06"}, as_=creds.operator("ops"))) == (
        "FORBIDDEN"
    )
    clock.advance(days=16)
    closed = await gql(CLOSE, {"period": "2026-06"}, as_=finance)
    payload = closed["data"]["closeSettlementPeriod"]
    assert payload["errors"] == [] and payload["statement"]["status"] == "CLOSED"
    again = await gql(CLOSE, {"period": "2026-06"}, as_=finance)
    assert again["data"]["closeSettlementPeriod"] == payload
    read = (await statement(gql, finance))["data"]["settlementStatement"]
    assert read["status"] == "CLOSED" and read["closedAt"] == payload["statement"]["closedAt"]


async def test_a_cancel_after_the_close_is_an_adjustment_of_the_next_period(
    cross_format, gql, creds, clock, api
):
    finance = creds.operator("finance")
    clock.advance(days=16)
    await gql(CLOSE, {"period": "2026-06"}, as_=finance)
    before = (await statement(gql, finance))["data"]["settlementStatement"]
    cancelled = await api.reverse(creds.operator("ops"), cross_format.id)
    assert cancelled["data"]["reverseTransaction"]["errors"] == []
    assert (await statement(gql, finance))["data"]["settlementStatement"] == before
    july = (await statement(gql, finance, period="2026-07"))["data"]["settlementStatement"]
    assert july["adjustments"] == [
        {
            "kind": "ADJUSTMENT",
            "points": -1000,
            "amount": "-10.00",
            "originalTransactionId": str(cross_format.id),
            "originalPeriod": "2026-06",
        }
    ]


async def test_the_csv_is_the_statement_for_the_same_credential(cross_format, client, creds):
    finance = creds.operator("finance")
    response = await client.get("/settlement/2026-06.csv", headers=finance)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    parties = {row["party"]: row for row in rows if row["section"] == "party"}
    assert parties["HOTEL"]["payable_amount"] == "10.00"
    assert parties["OFFICE"]["receivable_amount"] == "10.00"
    assert sum(Decimal(row["net_amount"]) for row in parties.values()) == 0
    assert (parties["HOTEL"]["funding_model"], parties["GROUP"]["funding_model"]) == (
        "POST_PAID",
        "",
    )
    assert parties["HOTEL"]["taken_back_points"] == "0"
    [line] = [row for row in rows if row["section"] == "line"]
    assert (line["funder"], line["redeemer"], line["points"], line["amount"]) == (
        "HOTEL",
        "OFFICE",
        "1000",
        "10.00",
    )
    journal = await client.get("/settlement/2026-06.journal.csv", headers=finance)
    entries = list(csv.DictReader(io.StringIO(journal.content.decode("utf-8-sig"))))
    assert sum(Decimal(e["debit"]) for e in entries) == sum(Decimal(e["credit"]) for e in entries)
    assert {"2241 Intercompany payable - points clearing"} <= {e["account"] for e in entries}


async def test_the_csv_keeps_to_the_rules_of_the_statement(cross_format, client, creds):
    office = await creds.partner("OFFICE", scopes="settlement")
    own = await client.get("/settlement/2026-06.csv?businessUnitId=OFFICE", headers=office)
    assert own.status_code == 200
    parties = [r for r in csv.DictReader(io.StringIO(own.text.lstrip("\ufeff")))]
    assert {r["party"] for r in parties if r["section"] == "party"} == {"OFFICE"}
    other = await client.get("/settlement/2026-06.csv?businessUnitId=HOTEL", headers=office)
    assert other.status_code == 403
    assert (await client.get("/settlement/2026-06.csv")).status_code == 401
    member = creds.member(cross_format.member_id)
    assert (await client.get("/settlement/2026-06.csv", headers=member)).status_code == 403
    bad = await client.get("/settlement/2026-13.csv", headers=creds.operator("finance"))
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_INPUT"


async def test_new_terms_for_a_closed_period_change_nothing(
    cross_format, gql, creds, clock, uow_factory
):
    finance = creds.operator("finance")
    clock.advance(days=16)
    await gql(CLOSE, {"period": "2026-06"}, as_=finance)
    async with uow_factory() as uow:
        await set_group_terms(
            uow,
            actor="finance:test",
            effective_from=date(2026, 6, 1),
            clearing_price=Decimal("0.02"),
            breakage_policy="GROUP",
        )
        live = await compute_open(uow, Period(2026, 6))
    assert next(p for p in live.parties if p.party == "OFFICE").receivable_amount == Decimal(
        "20.00"
    )
    data = (await statement(gql, finance))["data"]["settlementStatement"]
    office = next(p for p in data["parties"] if p["party"] == "OFFICE")
    assert data["status"] == "CLOSED" and office["receivableAmount"] == "10.00"


FUNDING = """
mutation($unit: ID!, $model: FundingModel!) {
  setFundingModel(input: { businessUnitId: $unit, model: $model }) {
    businessUnit { code } fundingModel errors { code field }
  }
}"""
BLOCK = """
mutation($input: RecordPointBlockInput!) {
  recordPointBlock(input: $input) { block { points remaining amount } replayed errors { code } }
}"""


async def test_finance_makes_a_unit_prepaid_and_its_earning_stops_at_its_blocks(
    units, gql, api, creds
):
    finance, ops = creds.operator("finance"), creds.operator("ops")
    assert error_code(await gql(FUNDING, {"unit": "HOTEL", "model": "PRE_PAID"}, as_=ops)) == (
        "FORBIDDEN"
    )
    body = await gql(FUNDING, {"unit": "HOTEL", "model": "PRE_PAID"}, as_=finance)
    assert body["data"]["setFundingModel"] == {
        "businessUnit": {"code": "HOTEL"},
        "fundingModel": "PRE_PAID",
        "errors": [],
    }
    block = {"businessUnitId": "HOTEL", "points": 300, "amount": "3.00", "idempotencyKey": "b1"}
    recorded = await gql(BLOCK, {"input": block}, as_=finance)
    assert recorded["data"]["recordPointBlock"] == {
        "block": {"points": 300, "remaining": 300, "amount": "3.00"},
        "replayed": False,
        "errors": [],
    }
    replay = await gql(BLOCK, {"input": block}, as_=finance)
    assert replay["data"]["recordPointBlock"]["replayed"] is True
    member = (await api.register(creds.operator("ops")))["data"]["registerMember"]["member"]["id"]
    first = await api.earn(ops, member, amount="100.00")  # 200 points
    assert first["data"]["earnPoints"]["errors"] == []
    refused = await api.earn(ops, member, amount="100.00")
    assert [e["code"] for e in refused["data"]["earnPoints"]["errors"]] == ["FUNDING_EXHAUSTED"]
    state = await api.state(member)
    assert state["available"] == 200 and len(state["transactions"]) == 1


BLOCKS = """
query($unit: ID) {
  pointBlocks(businessUnitId: $unit) {
    id points drawn remaining amount boughtAt businessUnit { code }
  }
}"""
REVERSE = """
mutation($input: ReverseTransactionInput!) {
  reverseTransaction(input: $input) { errors { code } }
}"""


async def test_a_units_blocks_show_what_was_drawn_and_what_a_refund_gave_back(
    units, gql, api, creds
):
    finance, ops = creds.operator("finance"), creds.operator("ops")
    await gql(FUNDING, {"unit": "HOTEL", "model": "PRE_PAID"}, as_=finance)
    block = {"businessUnitId": "HOTEL", "points": 500, "amount": "4.50", "idempotencyKey": "b1"}
    await gql(BLOCK, {"input": block}, as_=finance)
    member = (await api.register(ops))["data"]["registerMember"]["member"]["id"]
    earned = await api.earn(ops, member, amount="200.00")  # 400 points
    tx = earned["data"]["earnPoints"]["transaction"]["id"]
    body = await gql(BLOCKS, {"unit": "HOTEL"}, as_=finance)
    [row] = body["data"]["pointBlocks"]
    assert (row["points"], row["drawn"], row["remaining"], row["amount"]) == (500, 400, 100, "4.50")
    assert row["businessUnit"] == {"code": "HOTEL"} and row["boughtAt"]
    refund = {"transactionId": tx, "amount": "50.00", "reason": "returned", "idempotencyKey": "r1"}
    assert (await gql(REVERSE, {"input": refund}, as_=ops))["data"]["reverseTransaction"] == {
        "errors": []
    }
    hotel_key = await creds.partner("HOTEL", scopes="settlement")
    own = (await gql(BLOCKS, {"unit": None}, as_=hotel_key))["data"]["pointBlocks"]
    assert [(r["drawn"], r["remaining"]) for r in own] == [(300, 200)]  # 100 points back
    ops_view = (await gql(BLOCKS, {"unit": None}, as_=ops))["data"]["pointBlocks"]
    assert [r["id"] for r in ops_view] == [row["id"]]
    office_key = await creds.partner("OFFICE", scopes="settlement")
    assert error_code(await gql(BLOCKS, {"unit": "HOTEL"}, as_=office_key)) == "FORBIDDEN"
    assert (await gql(BLOCKS, {"unit": None}, as_=office_key))["data"]["pointBlocks"] == []
    assert error_code(await gql(BLOCKS, {"unit": "HOTEL"}, as_=hotel_key)) is None
    assert error_code(await gql(BLOCKS, {"unit": "NOPE"}, as_=finance)) == "NOT_FOUND"


FUNDING_FROM = """
mutation($unit: ID!, $model: FundingModel!, $from: Date) {
  setFundingModel(input: { businessUnitId: $unit, model: $model, effectiveFrom: $from }) {
    fundingModel errors { code field }
  }
}"""
MODELS = """
query($period: String!) { settlementStatement(period: $period) { parties { party fundingModel } } }
"""


async def test_a_statement_shows_each_units_funding_model_in_force_in_its_period(units, gql, creds):
    finance = creds.operator("finance")
    variables = {"unit": "OFFICE", "model": "PRE_PAID", "from": "2026-05-01"}
    body = await gql(FUNDING_FROM, variables, as_=finance)
    assert body["data"]["setFundingModel"] == {"fundingModel": "PRE_PAID", "errors": []}
    seen = {}
    for period in ("2026-04", "2026-05"):
        data = (await gql(MODELS, {"period": period}, as_=finance))["data"]
        parties = {p["party"]: p["fundingModel"] for p in data["settlementStatement"]["parties"]}
        seen[period] = parties["OFFICE"]
        assert parties["GROUP"] is None and parties["HOTEL"] == "POST_PAID"
    assert seen == {"2026-04": "POST_PAID", "2026-05": "PRE_PAID"}
    later = await gql(FUNDING_FROM, {**variables, "from": "2026-07-01"}, as_=finance)
    assert later["data"]["setFundingModel"] == {
        "fundingModel": None,
        "errors": [{"code": "INVALID_INPUT", "field": "effectiveFrom"}],
    }


GROUP_TERMS = """
mutation($input: SetSettlementTermsInput!) {
  setSettlementTerms(input: $input) {
    effectiveFrom clearingPrice breakagePolicy errors { code field }
  }
}"""
UNIT_TERMS = """
mutation($input: SetUnitSettlementTermsInput!) {
  setUnitSettlementTerms(input: $input) {
    businessUnit { code } effectiveFrom clearingPrice billingPercentage errors { code field }
  }
}"""


async def test_finance_sets_the_terms_from_a_day_on_and_the_statement_uses_them(
    cross_format, gql, creds, uow_factory
):
    finance, ops = creds.operator("finance"), creds.operator("ops")
    group = {"effectiveFrom": "2026-06-01", "clearingPrice": "0.02", "breakagePolicy": "FUNDERS"}
    assert error_code(await gql(GROUP_TERMS, {"input": group}, as_=ops)) == "FORBIDDEN"
    body = await gql(GROUP_TERMS, {"input": group}, as_=finance)
    assert body["data"]["setSettlementTerms"] == {**group, "errors": []}
    unit = {"businessUnitId": "HOTEL", "effectiveFrom": "2026-06-01", "billingPercentage": "75"}
    body = await gql(UNIT_TERMS, {"input": unit}, as_=finance)
    assert body["data"]["setUnitSettlementTerms"] == {
        "businessUnit": {"code": "HOTEL"},
        "effectiveFrom": "2026-06-01",
        "clearingPrice": None,
        "billingPercentage": "75",
        "errors": [],
    }
    data = (await statement(gql, finance))["data"]["settlementStatement"]
    by_party = {p["party"]: p for p in data["parties"]}
    # 1,000 HOTEL points at OFFICE: 20.00 at the new price, HOTEL pays 75% of it
    assert by_party["OFFICE"]["receivableAmount"] == "20.00"
    assert by_party["HOTEL"]["payableAmount"] == "15.00"
    async with uow_factory() as uow:
        actions = await uow.session.scalar(
            text(
                "SELECT count(*) FROM operator_actions"
                " WHERE action IN ('set-settlement-terms', 'set-unit-settlement-terms')"
            )
        )
    assert actions == 2


@pytest.mark.parametrize(
    ("document", "values", "field"),
    [
        (GROUP_TERMS, {"clearingPrice": "-0.01"}, "clearingPrice"),
        (GROUP_TERMS, {"clearingPrice": "0.0000001"}, "clearingPrice"),
        (GROUP_TERMS, {"clearingPrice": "1e9"}, "clearingPrice"),
        (UNIT_TERMS, {"billingPercentage": "100.5"}, "billingPercentage"),
        (UNIT_TERMS, {"billingPercentage": "50.00001"}, "billingPercentage"),
        (UNIT_TERMS, {"clearingPrice": "NaN"}, "clearingPrice"),
        (UNIT_TERMS, {}, "input"),
        (UNIT_TERMS, {"businessUnitId": "NOPE", "billingPercentage": "50"}, "businessUnitId"),
    ],
)
async def test_bad_terms_are_a_typed_error_and_change_nothing(
    units, gql, creds, uow_factory, document, values, field
):
    if document is GROUP_TERMS:
        base = {"effectiveFrom": "2026-06-01", "clearingPrice": "0.01", "breakagePolicy": "GROUP"}
    else:
        base = {"businessUnitId": "HOTEL", "effectiveFrom": "2026-06-01"}
    body = await gql(document, {"input": {**base, **values}}, as_=creds.operator("finance"))
    [payload] = body["data"].values()
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("NOT_FOUND" if field == "businessUnitId" else "INVALID_INPUT", field)
    ]
    async with uow_factory() as uow:
        rows = await uow.session.scalar(
            text(
                "SELECT (SELECT count(*) FROM settlement_terms)"
                " + (SELECT count(*) FROM settlement_unit_terms)"
            )
        )
    assert rows == 0


RATE_STATEMENT = """
query($period: String!) {
  settlementStatement(period: $period) {
    breakageRate
    parties { party breakageAmount breakageEstimatedAmount breakageAdvanceAmount liabilityAmount }
  }
}"""
RATE_TERMS = """
mutation($input: SetSettlementTermsInput!) {
  setSettlementTerms(input: $input) { breakageRate errors { code field } }
}"""


async def test_finance_sets_an_estimated_breakage_rate_and_the_statement_recognises_it(
    cross_format, gql, creds
):
    finance = creds.operator("finance")
    terms = {
        "effectiveFrom": "2026-06-01",
        "clearingPrice": "0.01",
        "breakagePolicy": "FUNDERS",
        "breakageRate": "0.2",
    }
    body = await gql(RATE_TERMS, {"input": terms}, as_=finance)
    assert body["data"]["setSettlementTerms"] == {"breakageRate": "0.2000", "errors": []}
    data = (await gql(RATE_STATEMENT, {"period": "2026-06"}, as_=finance))["data"]
    statement = data["settlementStatement"]
    assert statement["breakageRate"] == "0.2000"
    hotel = next(p for p in statement["parties"] if p["party"] == "HOTEL")
    # 1,000 HOTEL points redeemed at OFFICE: 10.00 x 0.2 / 0.8 recognised ahead of expiry
    assert hotel["breakageEstimatedAmount"] == "2.50" == hotel["breakageAdvanceAmount"]
    assert hotel["breakageAmount"] == "2.50"
    for bad in ("1", "-0.01", "0.00001"):
        body = await gql(RATE_TERMS, {"input": {**terms, "breakageRate": bad}}, as_=finance)
        assert body["data"]["setSettlementTerms"]["errors"] == [
            {"code": "INVALID_INPUT", "field": "breakageRate"}
        ]
    body = await gql(RATE_TERMS, {"input": {**terms, "breakageRate": None}}, as_=finance)
    assert body["data"]["setSettlementTerms"] == {"breakageRate": None, "errors": []}
    data = (await gql(RATE_STATEMENT, {"period": "2026-06"}, as_=finance))["data"]
    assert data["settlementStatement"]["breakageRate"] is None  # on expiry again
