"""Buying rights over GraphQL: a member buys for themself (ops for anyone), idempotently; typed
refusals; the wallet (`Member.rights`) read in one batch for many members."""

from __future__ import annotations

import pytest

from app.domain.rights.catalogue import RightSpec, create_right
from app.domain.rights.codes import normalise
from app.domain.rights.wallet import buy_right
from tests.api.conftest import error_code
from tests.api.test_query_counts import run_counted
from tests.helpers import earn, new_member

BUY = """mutation($input: BuyRightInput!) { buyRight(input: $input) {
    memberRight { id code status source validUntil right { code provider { code } } }
    pointsSpent balance { available } replayed errors { code field message } } }"""
WALLET = """query($id: ID!, $status: RightStatus) { member(id: $id) {
    rights(status: $status) { code status right { code } } } }"""
TICKET = RightSpec("TOURISM", "Museum ticket", "TICKET", 30, points_price=300, stock=10)


@pytest.fixture
async def shop(units, uow_factory):
    """A right for sale and a member with 1,000 points."""
    async with uow_factory() as uow:
        right = await create_right(uow, spec=TICKET, actor="ops:test")
        member = await new_member(uow, "HOTEL")
        await earn(uow, member, "500.00", unit="HOTEL")
    return right.id, member


async def test_a_member_buys_a_right_once_per_key(shop, gql, creds):
    right_id, member = shop
    me = creds.member(member)
    variables = {"input": {"rightId": str(right_id), "idempotencyKey": "buy-1"}}
    first = (await gql(BUY, variables, as_=me))["data"]["buyRight"]
    assert first["errors"] == [] and first["replayed"] is False
    held = first["memberRight"]
    assert normalise(held["code"]) == held["code"]
    assert (held["status"], held["source"], held["right"]["provider"]["code"]) == (
        "ACTIVE",
        "BOUGHT",
        "TOURISM",
    )
    assert first["pointsSpent"] == 300 and first["balance"]["available"] == 700
    again = (await gql(BUY, variables, as_=me))["data"]["buyRight"]
    assert again["replayed"] is True and again["memberRight"]["id"] == held["id"]
    wallet = (await gql(WALLET, {"id": str(member)}, as_=me))["data"]["member"]["rights"]
    assert [r["code"] for r in wallet] == [held["code"]]
    used = await gql(WALLET, {"id": str(member), "status": "USED"}, as_=me)
    assert used["data"]["member"]["rights"] == []


async def test_refusals_are_typed_and_callers_are_checked(shop, gql, creds, uow_factory):
    right_id, member = shop
    async with uow_factory() as uow:
        other = await new_member(uow, "HOTEL")
    big = {"input": {"rightId": str(right_id), "idempotencyKey": "poor"}}
    refused = (await gql(BUY, big, as_=creds.member(other)))["data"]["buyRight"]
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [
        ("INSUFFICIENT_POINTS", "points")
    ]
    for_someone = {"input": {**big["input"], "memberId": str(member), "idempotencyKey": "x"}}
    assert error_code(await gql(BUY, for_someone, as_=creds.member(other))) == "FORBIDDEN"
    assert error_code(await gql(BUY, for_someone, as_=await creds.partner("TOURISM"))) == (
        "FORBIDDEN"
    )
    by_ops = (await gql(BUY, for_someone, as_=creds.operator()))["data"]["buyRight"]
    assert by_ops["errors"] == [] and by_ops["memberRight"]["source"] == "BOUGHT"
    unknown = {"input": {"rightId": "999999", "idempotencyKey": "y"}}
    missing = (await gql(BUY, unknown, as_=creds.member(member)))["data"]["buyRight"]
    assert [e["code"] for e in missing["errors"]] == ["NOT_FOUND"]


async def test_wallets_of_many_members_load_in_one_batch(units, gql, creds, engine, uow_factory):
    async with uow_factory() as uow:
        right = await create_right(uow, spec=TICKET, actor="ops:test")
    query = """query($first: Int!) { members(first: $first) { edges { node {
        id rights { code right { code } } } } } }"""
    counts, stmts = {}, {}
    for size in (2, 6):
        async with uow_factory() as uow:
            for _ in range(size - (2 if size == 6 else 0)):
                member = await new_member(uow, "HOTEL")
                await earn(uow, member, "500.00", unit="HOTEL")
                await buy_right(uow, member_id=member, right_id=right.id, caller="test")
        body, statements = await run_counted(gql, engine, creds.operator(), query, {"first": size})
        assert all(len(e["node"]["rights"]) == 1 for e in body["data"]["members"]["edges"])
        counts[size] = len(statements)
        stmts[size] = statements
    assert counts[2] == counts[6], stmts
