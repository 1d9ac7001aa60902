"""Idempotent requests: one effect per (caller, key); replays return the first result."""

from decimal import Decimal

import pytest

from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.idempotency import fingerprint, run_once
from app.models import IdempotencyKey
from tests.helpers import (
    assert_clean,
    earn,
    ledger_snapshot,
    new_member,
    points_of,
    raises_code,
    spend,
)


def spend_request(member: int, points: int = 100, order: str = "T-1") -> dict:
    return {"memberId": member, "points": points, "orderRef": order, "orderAmount": "1000"}


async def spend_once(uow, payload: dict, *, key: str = "k-1", caller: str = "partner:HOTEL"):
    async def effect():
        tx = await spend(
            uow,
            payload["memberId"],
            payload["points"],
            payload["orderAmount"],
            "HOTEL",
            ref=payload["orderRef"],
        )
        return {"transactionId": tx.id, "points": tx.points, "cny": str(tx.cny_value)}

    return await run_once(
        uow, caller=caller, key=key, operation="spendPoints", payload=payload, effect=effect
    )


async def funded_member(uow_factory, amount: str = "500") -> int:
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, amount, "HOTEL")
    return member


def test_fingerprint_ignores_key_order_but_not_values():
    a = fingerprint("earnPoints", {"amount": Decimal("1.00"), "memberId": 1})
    b = fingerprint("earnPoints", {"memberId": 1, "amount": Decimal("1.00")})
    assert a == b
    assert a != fingerprint("earnPoints", {"memberId": 1, "amount": Decimal("1.01")})
    assert a != fingerprint("spendPoints", {"memberId": 1, "amount": Decimal("1.00")})


async def test_replay_returns_the_first_result_and_records_nothing(units, uow_factory, clock):
    member = await funded_member(uow_factory)
    async with uow_factory() as uow:
        first = await spend_once(uow, spend_request(member))
    assert first.replayed is False
    assert first.result["points"] == -100
    async with uow_factory() as uow:
        row = await uow.session.get(IdempotencyKey, ("partner:HOTEL", "k-1"))
        assert row.result == first.result
        assert row.operation == "spendPoints"
        assert row.created_at == clock.now
    before = await ledger_snapshot(uow_factory)
    clock.advance(minutes=5)
    async with uow_factory() as uow:
        again = await spend_once(uow, spend_request(member), key="  k-1 ")
    assert again.replayed is True
    assert again.result == first.result
    assert await ledger_snapshot(uow_factory) == before
    assert await points_of(uow_factory, member) == (900, 0, 0)
    await assert_clean(uow_factory)


async def test_same_key_different_payload_is_a_conflict(units, uow_factory):
    member = await funded_member(uow_factory)
    async with uow_factory() as uow:
        await spend_once(uow, spend_request(member))
    before = await ledger_snapshot(uow_factory)
    with raises_code(ErrorCode.IDEMPOTENCY_CONFLICT, field="idempotencyKey"):
        async with uow_factory() as uow:
            await spend_once(uow, spend_request(member, points=200))
    with raises_code(ErrorCode.IDEMPOTENCY_CONFLICT):
        async with uow_factory() as uow:
            await run_once(  # the same payload under another operation is another request
                uow,
                caller="partner:HOTEL",
                key="k-1",
                operation="earnPoints",
                payload=spend_request(member),
                effect=pytest.fail,
            )
    assert await ledger_snapshot(uow_factory) == before
    await assert_clean(uow_factory)


async def test_keys_belong_to_one_caller(units, uow_factory):
    member = await funded_member(uow_factory)
    async with uow_factory() as uow:
        hotel = await spend_once(uow, spend_request(member, order="A"), caller="partner:HOTEL")
    async with uow_factory() as uow:
        mall = await spend_once(uow, spend_request(member, order="B"), caller="partner:MALL")
    assert not hotel.replayed and not mall.replayed
    assert hotel.result["transactionId"] != mall.result["transactionId"]
    assert await points_of(uow_factory, member) == (800, 0, 0)
    await assert_clean(uow_factory)


async def test_domain_error_rolls_the_key_back_so_a_retry_runs(units, uow_factory):
    member = await funded_member(uow_factory, "50")  # 100 points
    request = spend_request(member, points=300)
    with raises_code(ErrorCode.INSUFFICIENT_POINTS):
        async with uow_factory() as uow:
            await spend_once(uow, request)
    async with uow_factory() as uow:
        assert await uow.session.get(IdempotencyKey, ("partner:HOTEL", "k-1")) is None
    async with uow_factory() as uow:
        await earn(uow, member, "100", "HOTEL")  # now 300
    async with uow_factory() as uow:
        retry = await spend_once(uow, request)
    assert retry.replayed is False
    assert retry.result["points"] == -300
    assert await points_of(uow_factory, member) == (0, 0, 0)
    await assert_clean(uow_factory)


async def test_unexpected_error_rolls_back_too(units, uow_factory):
    member = await funded_member(uow_factory)

    async def effect():
        await spend(uow, member, 100, "1000", "HOTEL")
        raise RuntimeError("connection to the till lost")

    before = await ledger_snapshot(uow_factory)
    with pytest.raises(RuntimeError):
        async with uow_factory() as uow:
            await run_once(
                uow, caller="c", key="k", operation="spendPoints", payload={}, effect=effect
            )
    assert await ledger_snapshot(uow_factory) == before
    await assert_clean(uow_factory)


@pytest.mark.parametrize("key", ["", "   ", "k" * 101])
async def test_key_must_be_1_to_100_characters(units, uow_factory, key):
    with raises_code(ErrorCode.INVALID_INPUT, field="idempotencyKey"):
        async with uow_factory() as uow:
            await run_once(uow, caller="c", key=key, operation="op", payload={}, effect=pytest.fail)
    await assert_clean(uow_factory)


async def test_replay_of_a_failed_effect_is_not_stored(units, uow_factory):
    """Only successes are kept: a key whose first try failed can carry a different payload."""
    member = await funded_member(uow_factory, "50")
    with pytest.raises(DomainError):
        async with uow_factory() as uow:
            await spend_once(uow, spend_request(member, points=300))
    async with uow_factory() as uow:
        outcome = await spend_once(uow, spend_request(member, points=100))
    assert outcome.replayed is False
    assert await points_of(uow_factory, member) == (0, 0, 0)
    await assert_clean(uow_factory)
