"""The points API end to end: register, resolve a code, earn, spend, reverse, list."""

from tests.api.conftest import REGISTER, REVERSE, SPEND
from tests.helpers import assert_clean, new_member

# EARN here also selects the breakdown (the shared one does not).
EARN = """
mutation($input: EarnPointsInput!) {
  earnPoints(input: $input) {
    transaction { id kind points orderRef businessUnit { code } }
    points breakdown { kind rule points } balance { available pending } replayed
    errors { code field message }
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


async def test_partial_refunds_take_back_exactly_what_was_earned(units, api, creds, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
    hotel = await creds.partner("HOTEL")
    earned = (await api.earn(hotel, member, amount="100.00"))["data"]["earnPoints"]
    assert earned["points"] == 200
    taken = []
    for amount in ("33.33", "33.33", "33.34"):
        body = (await api.reverse(hotel, earned["transaction"]["id"], amount=amount))["data"]
        assert body["reverseTransaction"]["errors"] == []
        taken.append(-body["reverseTransaction"]["transaction"]["points"])
    assert taken == [66, 67, 67]
    again = await api.reverse(hotel, earned["transaction"]["id"], amount="0.01")
    assert [e["code"] for e in again["data"]["reverseTransaction"]["errors"]] == [
        "ALREADY_REVERSED"
    ]
    assert (await api.state(member))["available"] == 0
    await assert_clean(uow_factory)


async def test_refund_of_spent_points_leaves_debt_that_later_earnings_repay(
    units, api, creds, uow_factory
):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
    hotel = await creds.partner("HOTEL")
    earned = (await api.earn(hotel, member, amount="1000.00"))["data"]["earnPoints"]
    spent = await api.spend(hotel, member, points=1500, orderAmount="100.00")
    assert spent["data"]["spendPoints"]["balance"]["available"] == 500
    refund = (await api.reverse(hotel, earned["transaction"]["id"]))["data"]["reverseTransaction"]
    assert refund["errors"] == []
    assert refund["balance"] == {"available": -1500, "debt": 1500}
    blocked = await api.spend(hotel, member, points=100)
    assert [e["code"] for e in blocked["data"]["spendPoints"]["errors"]] == ["INSUFFICIENT_POINTS"]
    repaid = (await api.earn(hotel, member, amount="1000.00"))["data"]["earnPoints"]
    assert repaid["balance"] == {"available": 500, "pending": 0}
    state = await api.state(member)
    assert (state["available"], state["debt"]) == (500, 0)
    await assert_clean(uow_factory)


async def test_mall_points_wait_pending_and_a_refund_in_the_window_cancels_them(
    units, api, creds, uow_factory
):
    async with uow_factory() as uow:
        member = await new_member(uow, "MALL")
    mall = await creds.partner("MALL")
    earned = (await api.earn(mall, member, businessUnitId="MALL", amount="80.00"))["data"]
    assert earned["earnPoints"]["balance"] == {"available": 0, "pending": 80}
    too_early = await api.spend(mall, member, businessUnitId="MALL", points=100)
    assert [e["code"] for e in too_early["data"]["spendPoints"]["errors"]] == [
        "INSUFFICIENT_POINTS"
    ]
    refund = await api.reverse(mall, earned["earnPoints"]["transaction"]["id"])
    assert refund["data"]["reverseTransaction"]["errors"] == []
    state = await api.state(member)
    assert (state["available"], state["pending"], state["debt"]) == (0, 0, 0)
    await assert_clean(uow_factory)
