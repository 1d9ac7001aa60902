"""The transactional outbox (app.platform.outbox): an event exists exactly when the change that
caused it committed, the relay hands it on once after the commit, and the sweeper relays what a
worker left, once, however many sweepers run."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import pytest

from app.domain.ledger.accounts import TxKind
from app.domain.shared.events import EventType
from app.domain.tiers.standing import grant_tier
from app.domain.webhooks.fan_out import take_events
from app.platform.outbox import DomainEvent, OutboxRelay
from app.platform.uow import unit_of_work
from tests.conftest import NOW, TZ
from tests.helpers import assert_clean, earn, new_member, refund, spend

GRACE = timedelta(seconds=30)


class Collect:
    """A consumer that keeps what it was handed."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    def __call__(self, events: Sequence[DomainEvent]) -> None:
        self.events.extend(events)

    def ids(self) -> list[int | None]:
        return [event.id for event in self.events]


@pytest.fixture
def collected() -> Collect:
    return Collect()


@pytest.fixture
def relay(engine, collected, clock) -> OutboxRelay:
    return OutboxRelay(engine, [collected], clock=lambda: clock.now, mark_interval=0.01)


async def _outbox(uow_factory) -> list[dict]:
    async with uow_factory() as uow:
        rows = await (await uow.driver()).fetch(
            "SELECT id, type, member_id, business_unit_id, payload, relayed_at "
            "FROM outbox_events ORDER BY id"
        )
    return [dict(row) for row in rows]


async def test_a_committed_earn_is_relayed_once_with_its_transaction(
    units, sessions, uow_factory, relay, collected
):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
    async with unit_of_work(sessions, now=NOW, tz=TZ, relay=relay) as uow:
        tx = await earn(uow, member, "50.00", unit="HOTEL")
    assert [event.type for event in collected.events] == [EventType.POINTS_CHANGED]
    event = collected.events[0]
    assert event.member_id == member and event.business_unit_id == units["HOTEL"]
    assert event.payload["transactionId"] == tx.id
    assert event.payload["kind"] == TxKind.EARN and event.payload["points"] == tx.points
    await relay.drain()
    rows = await _outbox(uow_factory)
    mine = [row for row in rows if row["id"] == event.id]
    assert len(mine) == 1 and mine[0]["relayed_at"] == NOW
    assert mine[0]["payload"]["transactionId"] == tx.id  # as written in the earn's statement
    await assert_clean(uow_factory)


async def test_a_rolled_back_transaction_leaves_no_event_and_relays_nothing(
    units, sessions, uow_factory, relay, collected
):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
    before = await _outbox(uow_factory)
    with pytest.raises(RuntimeError):
        async with unit_of_work(sessions, now=NOW, tz=TZ, relay=relay) as uow:
            await earn(uow, member, "50.00", unit="HOTEL")
            await grant_tier(
                uow, member_id=member, tier="GOLD", until=NOW + timedelta(days=30),
                reason="test", actor="ops:test",
            )  # fmt: skip
            raise RuntimeError("the request failed after its writes")
    assert collected.events == []
    assert await _outbox(uow_factory) == before


async def test_every_movement_and_tier_change_writes_its_event(units, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        earned = await earn(uow, member, "300.00", unit="HOTEL")
        spent = await spend(uow, member, 100, unit="HOTEL", order_amount="100")
        await refund(uow, earned.id, amount="100.00")
        await grant_tier(
            uow, member_id=member, tier="GOLD", until=NOW + timedelta(days=30),
            reason="service recovery", actor="ops:test",
        )  # fmt: skip
    events = [row for row in await _outbox(uow_factory) if row["member_id"] == member]
    points = [row["payload"]["transactionId"] for row in events if row["type"] == "POINTS_CHANGED"]
    assert earned.id in points and spent.id in points and len(points) == 3
    tiers = [row["payload"] for row in events if row["type"] == "TIER_CHANGED"]
    assert tiers[-1]["toTier"] == "GOLD" and tiers[-1]["reason"] == "service recovery"
    assert all(row["relayed_at"] is None for row in events)  # no relay here: the sweeper's
    await assert_clean(uow_factory)


async def test_the_sweeper_relays_what_no_worker_relayed_after_the_grace_period(
    units, sessions, uow_factory, relay, collected, clock
):
    async with uow_factory() as uow:  # committed, never relayed: a worker died after COMMIT
        member = await new_member(uow, "HOTEL")
        tx = await earn(uow, member, "80.00", unit="HOTEL")
    assert await relay.sweep(now=clock.now, grace=GRACE) == 0  # too young: its worker may relay
    assert collected.events == []
    later = clock.advance(minutes=1)
    relayed = await relay.sweep(now=later, grace=GRACE)
    assert relayed >= 1 and tx.id in [
        event.payload.get("transactionId") for event in collected.events
    ]
    assert await relay.sweep(now=later, grace=GRACE) == 0  # once
    assert all(row["relayed_at"] is not None for row in await _outbox(uow_factory))


async def test_concurrent_sweepers_hand_each_event_on_once(units, engine, uow_factory, clock):
    async with uow_factory() as uow:
        members = [await new_member(uow, "HOTEL") for _ in range(6)]
    for member in members:
        async with uow_factory() as uow:
            for _ in range(5):
                await earn(uow, member, "10.00", unit="HOTEL")
    consumers = [Collect() for _ in range(4)]
    sweepers = [OutboxRelay(engine, [consumer], clock=lambda: clock.now) for consumer in consumers]
    later = NOW + timedelta(minutes=5)
    counts = await asyncio.gather(
        *(sweeper.sweep(now=later, grace=GRACE, limit=7) for sweeper in sweepers)
    )
    handed = [event_id for consumer in consumers for event_id in consumer.ids()]
    written = [row["id"] for row in await _outbox(uow_factory)]
    assert sorted(handed) == written  # every event, none twice
    assert sum(counts) == len(written)


async def test_relayed_events_past_retention_are_pruned(units, uow_factory, relay, clock):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        await earn(uow, member, "10.00", unit="HOTEL")
    async with uow_factory() as uow:
        await earn(uow, member, "20.00", unit="HOTEL")
    assert await relay.prune(before=NOW + timedelta(days=30)) == 0  # none relayed yet
    await relay.sweep(now=NOW + timedelta(minutes=1), grace=GRACE)  # marked relayed at NOW
    assert await relay.prune(before=NOW) == 0  # relayed at NOW: not before it
    written = len(await _outbox(uow_factory))
    assert await relay.prune(before=NOW + timedelta(seconds=1)) == 0  # webhooks not taken yet
    async with uow_factory() as uow:
        assert await take_events(uow) == written
    assert await relay.prune(before=NOW + timedelta(seconds=1)) == written
    assert await _outbox(uow_factory) == []


async def test_after_transaction_hooks_learn_the_outcome(units, sessions):
    seen: list[bool] = []

    async def hook(committed: bool) -> None:
        seen.append(committed)

    async with unit_of_work(sessions, now=NOW, tz=TZ) as uow:
        uow.on_end(hook)
    with pytest.raises(ValueError):
        async with unit_of_work(sessions, now=NOW, tz=TZ) as uow:
            uow.on_end(hook)
            raise ValueError("refused")

    async def broken(committed: bool) -> None:
        raise RuntimeError("a hook failing fails nothing")

    async with unit_of_work(sessions, now=NOW, tz=TZ) as uow:
        uow.on_end(broken)
        uow.on_end(hook)
    assert seen == [True, False, True]
