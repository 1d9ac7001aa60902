"""Idempotency keys over the API: a till's retry returns the first result and records nothing new.

Keys belong to the caller: two partner keys may use the same key string for different requests.
Concurrent identical requests (a till retrying while the first is still in flight) record once.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from tests.helpers import assert_clean, earn, new_member


@pytest.fixture
async def member(units, uow_factory) -> int:
    """A HOTEL member with 2,000 points (1,000 CNY at HOTEL)."""
    async with uow_factory() as uow:
        member_id = await new_member(uow, "HOTEL")
        await earn(uow, member_id, "1000", unit="HOTEL")
    return member_id


@pytest.fixture
async def hotel(creds) -> dict:
    return await creds.partner("HOTEL")


def ok(body: dict, root: str) -> dict:
    assert "errors" not in body, body
    payload = body["data"][root]
    assert payload["errors"] == [], payload
    return payload


async def test_earn_replay_returns_the_first_transaction(member, hotel, api, uow_factory):
    request = {"orderRef": "STAY-1", "amount": "300.00", "idempotencyKey": "earn-stay-1"}
    first = ok(await api.earn(hotel, member, **request), "earnPoints")
    assert first["replayed"] is False
    assert first["points"] == 600
    after_first = await api.state(member)

    for _ in range(2):
        again = ok(await api.earn(hotel, member, **request), "earnPoints")
        assert again["replayed"] is True
        assert again["transaction"] == first["transaction"]
        assert again["points"] == 600
        assert again["balance"] == first["balance"] == {"available": 2600, "pending": 0}
    assert await api.state(member) == after_first
    earns = [t for t in after_first["transactions"] if t["kind"] == "EARN"]
    assert len(earns) == 2  # the fixture's and this one
    await assert_clean(uow_factory)


async def test_spend_replay_returns_the_first_transaction(member, hotel, api, uow_factory):
    request = {
        "orderRef": "MINIBAR-1",
        "orderAmount": "50.00",
        "points": 500,
        "idempotencyKey": "spend-minibar-1",
    }
    first = ok(await api.spend(hotel, member, **request), "spendPoints")
    assert first["replayed"] is False
    assert first["balance"]["available"] == 1500
    again = ok(await api.spend(hotel, member, **request), "spendPoints")
    assert again["replayed"] is True
    assert again["transaction"] == first["transaction"]
    assert (again["pointsSpent"], again["cnyDeducted"], again["cashDue"]) == (
        500,
        "5.00",
        "45.00",
    )
    state = await api.state(member)
    assert state["available"] == 1500
    assert [t["kind"] for t in state["transactions"]] == ["SPEND", "EARN"]
    await assert_clean(uow_factory)


async def test_reverse_replay_returns_the_first_reversal(member, hotel, api, uow_factory):
    spent = ok(await api.spend(hotel, member, points=300), "spendPoints")
    request = {"reason": "guest cancelled", "idempotencyKey": "cancel-1"}
    tx = spent["transaction"]["id"]
    first = ok(await api.reverse(hotel, tx, **request), "reverseTransaction")
    again = ok(await api.reverse(hotel, tx, **request), "reverseTransaction")
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert again["transaction"] == first["transaction"]
    assert again["balance"]["available"] == 2000
    # A new key is a new request: the spend is already cancelled.
    fresh = (await api.reverse(hotel, tx, reason="again"))["data"]["reverseTransaction"]
    assert [e["code"] for e in fresh["errors"]] == ["ALREADY_REVERSED"]
    kinds = [t["kind"] for t in (await api.state(member))["transactions"]]
    assert kinds == ["SPEND_REVERSAL", "SPEND", "EARN"]
    await assert_clean(uow_factory)


async def test_register_replay_returns_the_same_member(units, hotel, api):
    request = {"phone": "13655556666", "displayName": "Zhao Lei", "idempotencyKey": "reg-1"}
    first = ok(await api.register(hotel, **request), "registerMember")
    again = ok(await api.register(hotel, **request), "registerMember")
    assert again["member"] == first["member"]
    conflict = (await api.register(hotel, **{**request, "displayName": "Zhao L."}))["data"]
    assert [(e["code"], e["field"]) for e in conflict["registerMember"]["errors"]] == [
        ("IDEMPOTENCY_CONFLICT", "idempotencyKey")
    ]


@pytest.mark.parametrize(
    ("operation", "changed"),
    [
        pytest.param("earn", {"amount": "301.00"}, id="earn-other-amount"),
        pytest.param("earn", {"orderRef": "STAY-2"}, id="earn-other-order"),
        pytest.param("earn", {"category": "SPA"}, id="earn-added-category"),
        pytest.param("spend", {"points": 400}, id="spend-other-points"),
        pytest.param("spend", {"orderAmount": "60.00"}, id="spend-other-amount"),
        pytest.param("other-operation", {}, id="same-key-for-a-spend"),
    ],
)
async def test_same_key_different_request_is_a_conflict(
    operation, changed, member, hotel, api, uow_factory
):
    earn_request = {"orderRef": "STAY-1", "amount": "300.00", "idempotencyKey": "k-1"}
    spend_request = {
        "orderRef": "MINIBAR-1",
        "orderAmount": "50.00",
        "points": 500,
        "idempotencyKey": "k-1",
    }
    if operation == "spend":
        ok(await api.spend(hotel, member, **spend_request), "spendPoints")
    else:
        ok(await api.earn(hotel, member, **earn_request), "earnPoints")
    before = await api.state(member)

    if operation == "earn":
        body = await api.earn(hotel, member, **{**earn_request, **changed})
        root = "earnPoints"
    elif operation == "spend":
        body = await api.spend(hotel, member, **{**spend_request, **changed})
        root = "spendPoints"
    else:
        body = await api.spend(hotel, member, **spend_request)
        root = "spendPoints"
    payload = body["data"][root]
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("IDEMPOTENCY_CONFLICT", "idempotencyKey")
    ]
    assert payload["transaction"] is None
    assert payload["replayed"] is False
    assert await api.state(member) == before


async def test_keys_belong_to_the_caller(member, api, creds, uow_factory):
    front_desk = await creds.partner("HOTEL")
    spa = await creds.partner("HOTEL")
    ops = creds.operator("ops")
    results = []
    for caller, order in ((front_desk, "FD-1"), (spa, "SPA-1"), (ops, "OPS-1")):
        body = ok(
            await api.earn(caller, member, orderRef=order, amount="10.00", idempotencyKey="till-1"),
            "earnPoints",
        )
        assert body["replayed"] is False
        results.append(body["transaction"]["id"])
    assert len(set(results)) == 3
    # Each caller's retry replays its own first result.
    for caller, order, tx in zip(
        (front_desk, spa, ops), ("FD-1", "SPA-1", "OPS-1"), results, strict=True
    ):
        body = ok(
            await api.earn(caller, member, orderRef=order, amount="10.00", idempotencyKey="till-1"),
            "earnPoints",
        )
        assert (body["replayed"], body["transaction"]["id"]) == (True, tx)
    # The same key string with another caller's payload is still that caller's conflict.
    body = await api.earn(spa, member, orderRef="FD-1", amount="10.00", idempotencyKey="till-1")
    assert [e["code"] for e in body["data"]["earnPoints"]["errors"]] == ["IDEMPOTENCY_CONFLICT"]
    state = await api.state(member)
    assert state["available"] == 2000 + 3 * 20
    assert len(state["transactions"]) == 4
    await assert_clean(uow_factory)


@pytest.mark.concurrency
async def test_concurrent_identical_earns_record_once(member, hotel, api, uow_factory):
    request = {"orderRef": "STAY-9", "amount": "250.00", "idempotencyKey": "burst-earn"}
    bodies = await asyncio.gather(*[api.earn(hotel, member, **request) for _ in range(10)])
    payloads = [ok(body, "earnPoints") for body in bodies]
    assert len({p["transaction"]["id"] for p in payloads}) == 1
    assert Counter(p["replayed"] for p in payloads) == {False: 1, True: 9}
    state = await api.state(member)
    assert state["available"] == 2500
    assert len(state["transactions"]) == 2
    await assert_clean(uow_factory)


@pytest.mark.concurrency
async def test_concurrent_identical_spends_record_once(member, hotel, api, uow_factory):
    request = {
        "orderRef": "SHOP-9",
        "orderAmount": "100.00",
        "points": 1000,
        "idempotencyKey": "burst-spend",
    }
    bodies = await asyncio.gather(*[api.spend(hotel, member, **request) for _ in range(10)])
    payloads = [ok(body, "spendPoints") for body in bodies]
    assert len({p["transaction"]["id"] for p in payloads}) == 1
    assert Counter(p["replayed"] for p in payloads) == {False: 1, True: 9}
    state = await api.state(member)
    assert state["available"] == 1000
    assert [t["kind"] for t in state["transactions"]] == ["SPEND", "EARN"]
    await assert_clean(uow_factory)


@pytest.mark.concurrency
async def test_concurrent_requests_for_one_order_under_different_keys_record_once(
    member, hotel, api, uow_factory
):
    bodies = await asyncio.gather(
        *[
            api.earn(hotel, member, orderRef="STAY-X", amount="100.00", idempotencyKey=f"k{i}")
            for i in range(8)
        ]
    )
    codes = Counter(
        tuple(e["code"] for e in body["data"]["earnPoints"]["errors"]) for body in bodies
    )
    assert codes == {(): 1, ("DUPLICATE",): 7}
    assert (await api.state(member))["available"] == 2200
    await assert_clean(uow_factory)


@pytest.mark.concurrency
async def test_concurrent_spends_never_overdraw(member, hotel, api, uow_factory):
    bodies = await asyncio.gather(
        *[
            api.spend(hotel, member, orderRef=f"RUSH-{i}", orderAmount="100.00", points=600)
            for i in range(10)
        ]
    )
    codes = Counter(
        tuple(e["code"] for e in body["data"]["spendPoints"]["errors"]) for body in bodies
    )
    assert codes == {(): 3, ("INSUFFICIENT_POINTS",): 7}
    state = await api.state(member)
    assert state["available"] == 200
    assert [t["kind"] for t in state["transactions"]].count("SPEND") == 3
    await assert_clean(uow_factory)


async def test_a_retry_naming_the_unit_another_way_replays(member, hotel, api, units):
    """The fingerprint compares the unit named, not how it is written: a till that sent the
    unit's id and retries with its code (or the code in lower case) gets the first result."""
    request = {"orderRef": "STAY-9", "amount": "120.00", "idempotencyKey": "earn-stay-9"}
    first = ok(
        await api.earn(hotel, member, businessUnitId=str(units["HOTEL"]), **request), "earnPoints"
    )
    assert first["replayed"] is False
    after_first = await api.state(member)
    for named in ("HOTEL", "hotel", f" {units['HOTEL']} "):
        again = ok(await api.earn(hotel, member, businessUnitId=named, **request), "earnPoints")
        assert (again["replayed"], again["transaction"]) == (True, first["transaction"])
    assert await api.state(member) == after_first
    # Another unit under the same key is still another request.
    other = await api.earn(hotel, member, businessUnitId="MALL", **request)
    assert [e["code"] for e in other["data"]["earnPoints"]["errors"]] == ["IDEMPOTENCY_CONFLICT"]
