"""What normalised client caches (Apollo Client, urql) need from the schema: a payload that
changes a member's points returns the `member` (so `Member:<id>` is updated in place), a
balance says whose it is (`memberId`: also what `pointsChanged` yields), idempotency keys are
non-null where the mutation requires one (codegen types say so), and `registerMember` says
whether it answered a retry."""

from __future__ import annotations

from graphql import GraphQLNonNull, GraphQLObjectType, get_named_type

from app.graphql.schema import schema
from tests.helpers import earn, new_member

TILL = """
mutation($e: EarnPointsInput!, $s: SpendPointsInput!) {
  earnPoints(input: $e) {
    balance { memberId available }
    member { id points { memberId available pending } }
    errors { code }
  }
  spendPoints(input: $s) {
    balance { memberId available }
    member { id points { available } }
    errors { code }
  }
}"""
REVERSE = """
mutation($i: ReverseTransactionInput!) {
  reverseTransaction(input: $i) { member { id points { available } } errors { code } }
}"""
REGISTER = """
mutation($i: RegisterMemberInput!) {
  registerMember(input: $i) { member { id } replayed errors { code } }
}"""


def _gql_schema():
    return schema._schema


def test_every_payload_with_a_balance_returns_its_member():
    """A payload's `balance` alone is cached under the payload, not under the member: the
    member's cached points would stay stale. So each one has `member` too."""
    payloads = [
        t
        for name, t in _gql_schema().type_map.items()
        if isinstance(t, GraphQLObjectType) and name.endswith("Payload") and "balance" in t.fields
    ]
    assert len(payloads) >= 8  # earn, spend, reverse, activity, right bought/refunded, mall...
    for payload in payloads:
        member = payload.fields.get("member")
        assert member is not None, f"{payload.name} has a balance but no member"
        assert get_named_type(member.type).name == "Member", payload.name


def test_balances_say_whose_they_are_and_entities_have_ids():
    types = _gql_schema().type_map
    member_id = types["PointsBalance"].fields["memberId"].type
    assert isinstance(member_id, GraphQLNonNull) and str(member_id.of_type) == "ID"
    assert str(types["Subscription"].fields["pointsChanged"].type) == "PointsBalance!"
    for entity in ("Member", "PointsTransaction", "BusinessUnit", "MemberRight", "MallOrder"):
        assert str(types[entity].fields["id"].type) == "ID!", entity
    assert str(types["RegisterMemberPayload"].fields["replayed"].type) == "Boolean!"


def test_idempotency_keys_are_non_null_where_the_mutation_requires_one():
    types = _gql_schema().type_map
    for name in (
        "SpendPointsInput",
        "ReverseTransactionInput",
        "RecordActivityInput",
        "BuyRightInput",
        "PlaceMallOrderInput",
        "WriteOffVoucherInput",
    ):
        assert str(types[name].fields["idempotencyKey"].type) == "String!", name


async def test_till_payloads_return_the_member_with_its_new_points(units, gql, creds, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        await earn(uow, member, "100.00", unit="HOTEL")  # 200 available
    hotel = await creds.partner("HOTEL")
    till = {"memberId": str(member), "businessUnitId": "HOTEL"}
    body = await gql(
        TILL,
        {
            "e": {**till, "orderRef": "CACHE-E1", "amount": "50.00", "idempotencyKey": "e-1"},
            "s": {
                **till,
                "orderRef": "CACHE-S1",
                "orderAmount": "1000",
                "points": 100,
                "idempotencyKey": "s-1",
            },
        },
        as_=hotel,
    )
    assert "errors" not in body, body
    earned, spent = body["data"]["earnPoints"], body["data"]["spendPoints"]
    assert earned["errors"] == [] and spent["errors"] == []
    assert earned["balance"] == {"memberId": str(member), "available": 300}
    assert earned["member"] == {
        "id": str(member),
        "points": {"memberId": str(member), "available": 300, "pending": 0},
    }
    assert spent["member"] == {"id": str(member), "points": {"available": 200}}
    assert spent["balance"] == {"memberId": str(member), "available": 200}

    state = await gql(  # the spend, newest
        "query($id: ID!) { member(id: $id) { transactions(first: 1) { edges { node { id } } } } }",
        {"id": str(member)},
        as_=creds.operator(),
    )
    spend_id = state["data"]["member"]["transactions"]["edges"][0]["node"]["id"]
    body = await gql(
        REVERSE,
        {"i": {"transactionId": spend_id, "reason": "cancel", "idempotencyKey": "r-1"}},
        as_=hotel,
    )
    assert body["data"]["reverseTransaction"]["member"] == {
        "id": str(member),
        "points": {"available": 300},
    }


async def test_a_refused_payload_has_no_member(units, gql, creds, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
    body = await gql(
        TILL,
        {
            "e": {
                "memberId": str(member),
                "businessUnitId": "HOTEL",
                "orderRef": "CACHE-E1",
                "amount": "-5",
                "idempotencyKey": "e-1",
            },
            "s": {
                "memberId": str(member),
                "businessUnitId": "HOTEL",
                "orderRef": "CACHE-S1",
                "orderAmount": "1000",
                "points": 100,
                "idempotencyKey": "s-1",
            },
        },
        as_=await creds.partner("HOTEL"),
    )
    assert body["data"]["earnPoints"]["member"] is None
    assert body["data"]["earnPoints"]["errors"][0]["code"] == "INVALID_INPUT"
    assert body["data"]["spendPoints"] == {
        "balance": None,
        "member": None,
        "errors": [{"code": "INSUFFICIENT_POINTS"}],
    }


async def test_a_missing_idempotency_key_is_refused_by_the_schema(units, gql, creds):
    body = await gql(
        "mutation($i: SpendPointsInput!) { spendPoints(input: $i) { errors { code } } }",
        {
            "i": {
                "memberId": "1",
                "businessUnitId": "HOTEL",
                "orderRef": "S",
                "orderAmount": "9",
                "points": 1,
            }
        },
        as_=await creds.partner("HOTEL"),
    )
    assert body["data"] is None and "idempotencyKey" in body["errors"][0]["message"]


async def test_register_member_says_when_it_answered_a_retry(units, gql, creds):
    hotel = await creds.partner("HOTEL")
    values = {"phone": "13900000007", "displayName": "Wang Fang", "businessUnitId": "HOTEL"}
    first = await gql(REGISTER, {"i": {**values, "idempotencyKey": "reg-7"}}, as_=hotel)
    again = await gql(REGISTER, {"i": {**values, "idempotencyKey": "reg-7"}}, as_=hotel)
    first, again = first["data"]["registerMember"], again["data"]["registerMember"]
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert first["member"] == again["member"] and first["errors"] == again["errors"] == []
    unkeyed = await gql(REGISTER, {"i": {**values, "phone": "13900000008"}}, as_=hotel)
    assert unkeyed["data"]["registerMember"]["replayed"] is False
