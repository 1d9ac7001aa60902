"""The points API end to end: register, resolve a code, earn, spend, reverse, list."""

from tests.helpers import assert_clean

REGISTER = """
mutation($input: RegisterMemberInput!) {
  registerMember(input: $input) {
    member { id displayName phoneMasked } errors { code field message }
  }
}"""
EARN = """
mutation($input: EarnPointsInput!) {
  earnPoints(input: $input) {
    transaction { id kind points orderRef businessUnit { code } }
    points breakdown { kind rule points } balance { available pending } replayed
    errors { code field message }
  }
}"""
SPEND = """
mutation($input: SpendPointsInput!) {
  spendPoints(input: $input) {
    transaction { id points } pointsSpent cnyDeducted cashDue balance { available } replayed
    errors { code field message }
  }
}"""
REVERSE = """
mutation($input: ReverseTransactionInput!) {
  reverseTransaction(input: $input) {
    transaction { id kind points } balance { available debt } errors { code field }
  }
}"""


async def test_till_flow(units, gql, creds, uow_factory):
    hotel = await creds.partner("HOTEL")
    reg = await gql(
        REGISTER,
        {
            "input": {
                "phone": "+86 139-1234-5678",
                "displayName": "Li Na",
                "businessUnitId": "HOTEL",
            }
        },
        as_=hotel,
    )
    member = reg["data"]["registerMember"]["member"]
    assert member["phoneMasked"] == "139****5678"
    earn = await gql(
        EARN,
        {
            "input": {
                "memberId": member["id"],
                "businessUnitId": "HOTEL",
                "orderRef": "R1",
                "amount": "880.50",
                "idempotencyKey": "k1",
            }
        },
        as_=hotel,
    )
    body = earn["data"]["earnPoints"]
    assert body["errors"] == []
    assert body["points"] == 1761
    assert body["balance"] == {"available": 1761, "pending": 0}
    assert body["breakdown"][0]["rule"] == "base:HOTEL"
    spend = await gql(
        SPEND,
        {
            "input": {
                "memberId": member["id"],
                "businessUnitId": "HOTEL",
                "orderRef": "R2",
                "orderAmount": "100.00",
                "points": 1000,
                "idempotencyKey": "k2",
            }
        },
        as_=hotel,
    )
    body = spend["data"]["spendPoints"]
    assert body["errors"] == []
    assert body["cnyDeducted"] == "10.00"
    assert body["cashDue"] == "90.00"
    assert body["balance"]["available"] == 761
    reverse = await gql(
        REVERSE,
        {
            "input": {
                "transactionId": body["transaction"]["id"],
                "reason": "order cancelled",
                "idempotencyKey": "k3",
            }
        },
        as_=hotel,
    )
    assert reverse["data"]["reverseTransaction"]["balance"]["available"] == 1761
    await assert_clean(uow_factory)
