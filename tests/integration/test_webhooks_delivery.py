"""Webhooks out end to end below the API: events through the outbox to a real receiver on
loopback that verifies every delivery with `standardwebhooks`; retries keep their webhook-id;
a dispatcher killed mid-delivery loses nothing; several dispatchers never send one attempt
twice; 410, Retry-After and days of failure; a unit's endpoint sees only its own."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.domain.access.principals import Principal
from app.domain.rights.catalogue import RightSpec, create_right
from app.domain.rights.lifecycle import grant_right, revoke_right
from app.domain.rights.write_off import undo_write_off, write_off_voucher
from app.domain.webhooks.endpoints import create_endpoint, rotate_secret
from app.jobs.webhooks import WebhookDispatcher
from app.models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from app.platform.metrics import Metrics
from app.platform.outbox import OutboxRelay
from app.settings import Settings
from tests.conftest import NOW
from tests.helpers import earn, new_member
from tests.webhook_receiver import Receiver, receiving

OPS = Principal(kind="operator", subject="ops-1", roles=frozenset({"ops"}))
SETTINGS = Settings(webhooks_allow_private=True, webhooks_lease_seconds=60, env="test")


def middle(low: float, high: float) -> float:
    return 1.0


@pytest.fixture
async def dispatcher(sessions, clock):
    made: list[WebhookDispatcher] = []

    def make(**settings) -> WebhookDispatcher:
        values = {**SETTINGS.__dict__, **settings}
        one = WebhookDispatcher(
            sessions=sessions,
            settings=Settings(**values),
            clock=lambda: clock.now,
            metrics=Metrics(),
            draw=middle,
        )
        made.append(one)
        return one

    yield make
    for one in made:
        await one.aclose()


async def subscribe(uow_factory, url, events=("POINTS_CHANGED",), unit=None, who=OPS):
    async with uow_factory() as uow:
        secret, row = await create_endpoint(
            uow, who, url=url, events=list(events), business_unit=unit, private_ok=True
        )
    return secret, row.id


async def earn_once(uow_factory) -> int:
    """A new member's first earn: one POINTS_CHANGED event."""
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        await earn(uow, member, "10.00", unit="HOTEL")
    return member


async def messages(uow_factory) -> list[WebhookMessage]:
    async with uow_factory() as uow:
        return list(await uow.session.scalars(select(WebhookMessage).order_by(WebhookMessage.id)))


async def attempts(uow_factory, message_id) -> list[WebhookAttempt]:
    async with uow_factory() as uow:
        query = select(WebhookAttempt).where(WebhookAttempt.message_id == message_id)
        return list(await uow.session.scalars(query.order_by(WebhookAttempt.id)))


async def endpoint(uow_factory, endpoint_id) -> WebhookEndpoint:
    async with uow_factory() as uow:
        return await uow.session.get(WebhookEndpoint, endpoint_id)


async def test_an_earn_reaches_the_receiver_signed_with_type_timestamp_and_data(
    units, uow_factory, dispatcher
):
    receiver = Receiver()
    async with receiving(receiver) as url:
        secret, _ = await subscribe(uow_factory, url)
        receiver.secrets.append(secret)
        async with uow_factory() as uow:
            member = await new_member(uow, "HOTEL")
            await earn(uow, member, "100.00", unit="HOTEL")
        report = await dispatcher().run_once()
    assert report.delivered == 1 and receiver.unverified == 0
    [delivery] = receiver.verified
    assert delivery.body["type"] == "POINTS_CHANGED"
    assert delivery.body["timestamp"] == NOW.isoformat()
    assert delivery.body["data"]["memberId"] == member
    assert delivery.body["data"]["sequence"] == 1
    assert delivery.webhook_id.startswith("msg_")
    [message] = await messages(uow_factory)
    assert (message.status, message.webhook_id) == ("DELIVERED", delivery.webhook_id)
    [attempt] = await attempts(uow_factory, message.id)
    assert attempt.status_code == 200 and attempt.response_excerpt == "ok"


async def test_a_failed_first_attempt_is_retried_after_5_seconds_with_the_same_webhook_id(
    units, uow_factory, dispatcher, clock
):
    receiver = Receiver(fail_first=True)
    async with receiving(receiver) as url:
        secret, _ = await subscribe(uow_factory, url)
        receiver.secrets.append(secret)
        async with uow_factory() as uow:
            member = await new_member(uow, "HOTEL")
            await earn(uow, member, "100.00", unit="HOTEL")
        sender = dispatcher()
        assert (await sender.run_once()).delivered == 0
        [message] = await messages(uow_factory)
        assert message.status == "PENDING" and message.last_error == "HTTP 500"
        assert message.next_attempt_at == NOW + timedelta(seconds=5)
        clock.advance(seconds=4)
        assert (await sender.run_once()).attempts == 0  # not due yet
        clock.advance(seconds=1)
        assert (await sender.run_once()).delivered == 1
    assert receiver.attempts == {message.webhook_id: 2}
    assert receiver.ids() == [message.webhook_id]
    logged = await attempts(uow_factory, message.id)
    assert [a.status_code for a in logged] == [500, 200]
    assert logged[0].response_excerpt == "try again later"
    assert (await messages(uow_factory))[0].status == "DELIVERED"


async def test_a_dispatcher_killed_mid_delivery_loses_nothing(
    units, uow_factory, dispatcher, clock
):
    receiver = Receiver(hang=True)
    async with receiving(receiver) as url:
        secret, _ = await subscribe(uow_factory, url)
        receiver.secrets.append(secret)
        async with uow_factory() as uow:
            member = await new_member(uow, "HOTEL")
            await earn(uow, member, "100.00", unit="HOTEL")
        killed = asyncio.create_task(dispatcher().run_forever())
        await asyncio.wait_for(receiver.arrived.wait(), 10)
        killed.cancel()  # mid-delivery: the request is in flight, nothing recorded
        with pytest.raises(asyncio.CancelledError):
            await killed
        [message] = await messages(uow_factory)
        assert message.status == "PENDING" and message.tries == 1
        assert await attempts(uow_factory, message.id) == []
        receiver.hang = False
        receiver.release.set()
        restarted = dispatcher()
        assert (await restarted.run_once()).attempts == 0  # still leased to the dead worker
        clock.advance(seconds=SETTINGS.webhooks_lease_seconds)
        assert (await restarted.run_once()).delivered == 1
    # At least once: the dead worker's request may have reached the receiver too, under the
    # same webhook-id, so the receiver can tell it is one message.
    assert set(receiver.ids()) == {message.webhook_id}
    assert (await messages(uow_factory))[0].status == "DELIVERED"


async def test_several_dispatchers_never_send_one_attempt_twice(units, uow_factory, dispatcher):
    receiver = Receiver()
    async with receiving(receiver) as url:
        secret, _ = await subscribe(uow_factory, url)
        receiver.secrets.append(secret)
        async with uow_factory() as uow:
            member = await new_member(uow, "HOTEL")
        for n in range(30):
            async with uow_factory() as uow:
                await earn(uow, member, "10.00", unit="HOTEL", ref=f"O-{n}")
        workers = [dispatcher(webhooks_concurrency=4) for _ in range(4)]
        reports = await asyncio.gather(*(worker.run_once() for worker in workers))
    assert sum(report.taken for report in reports) == 30
    assert sum(report.attempts for report in reports) == len(receiver.attempts) == 30
    assert all(count == 1 for count in receiver.attempts.values())
    assert sorted(d.body["data"]["sequence"] for d in receiver.verified) == list(range(1, 31))


async def test_each_members_sequence_follows_the_order_events_were_recorded(
    units, uow_factory, dispatcher
):
    receiver = Receiver()
    async with receiving(receiver) as url:
        secret, _ = await subscribe(uow_factory, url)
        receiver.secrets.append(secret)
        async with uow_factory() as uow:
            first, second = await new_member(uow, "HOTEL"), await new_member(uow, "MALL")
        for n in range(3):
            async with uow_factory() as uow:
                await earn(uow, first, "10.00", unit="HOTEL", ref=f"A-{n}")
                await earn(uow, second, "10.00", unit="MALL", ref=f"B-{n}")
        await dispatcher().run_once()
    for member in (first, second):
        bodies = [d.body["data"] for d in receiver.verified if d.body["data"]["memberId"] == member]
        by_transaction = sorted(bodies, key=lambda data: data["transactionId"])
        assert [data["sequence"] for data in by_transaction] == [1, 2, 3]


async def test_410_disables_the_endpoint_and_fails_its_messages(
    units, uow_factory, dispatcher, caplog
):
    receiver = Receiver(status=410)
    async with receiving(receiver) as url:
        secret, endpoint_id = await subscribe(uow_factory, url)
        receiver.secrets.append(secret)
        async with uow_factory() as uow:
            member = await new_member(uow, "HOTEL")
            await earn(uow, member, "10.00", unit="HOTEL")
        worker = dispatcher(webhooks_concurrency=1)
        await worker.run_once()
    assert sum(receiver.attempts.values()) == 1  # the second message is not sent
    row = await endpoint(uow_factory, endpoint_id)
    assert row.disabled_at == NOW and "410" in (row.disabled_reason or "")
    assert {m.status for m in await messages(uow_factory)} == {"FAILED"}
    assert "disabled" in caplog.text and secret not in caplog.text
    assert worker.metrics.webhook_endpoints_disabled.labels("gone")._value.get() == 1


async def test_retry_after_is_honoured(units, uow_factory, dispatcher):
    receiver = Receiver(status=503, headers={"Retry-After": "600"})
    async with receiving(receiver) as url:
        secret, _ = await subscribe(uow_factory, url)
        receiver.secrets.append(secret)
        await earn_once(uow_factory)
        await dispatcher().run_once()
    [message] = await messages(uow_factory)
    assert message.next_attempt_at == NOW + timedelta(minutes=10)  # not 5 s


async def test_an_endpoint_failing_for_five_days_is_disabled(units, uow_factory, dispatcher, clock):
    receiver = Receiver(status=500)
    async with receiving(receiver) as url:
        secret, endpoint_id = await subscribe(uow_factory, url)
        receiver.secrets.append(secret)
        worker = dispatcher()
        for _day in range(6):
            await earn_once(uow_factory)
            await worker.run_once()
            row = await endpoint(uow_factory, endpoint_id)
            assert (row.disabled_at is not None) == (_day == 5)
            clock.advance(days=1)
    assert row.failing_since == NOW
    assert worker.metrics.webhook_endpoints_disabled.labels("failing")._value.get() == 1


async def test_the_eighth_failed_attempt_gives_the_message_up(
    units, uow_factory, dispatcher, clock
):
    receiver = Receiver(status=500)
    async with receiving(receiver) as url:
        secret, _ = await subscribe(uow_factory, url)
        receiver.secrets.append(secret)
        await earn_once(uow_factory)
        worker = dispatcher()
        for _ in range(8):
            await worker.run_once()
            clock.advance(hours=11)
        await worker.run_once()
    [message] = await messages(uow_factory)
    assert (message.status, message.tries) == ("FAILED", 8)
    assert len(await attempts(uow_factory, message.id)) == 8


async def test_during_a_rotation_both_secrets_sign(units, uow_factory, dispatcher, clock):
    old_receiver = Receiver()
    async with receiving(old_receiver) as url:
        old, endpoint_id = await subscribe(uow_factory, url)
        async with uow_factory() as uow:
            new, _ = await rotate_secret(uow, OPS, endpoint_id)
        old_receiver.secrets.append(old)  # a receiver that has not switched yet
        await earn_once(uow_factory)
        await dispatcher().run_once()
        assert len(old_receiver.verified) == 1
        old_receiver.secrets[:] = [new]  # and one that has
        clock.advance(hours=23)
        await earn_once(uow_factory)
        await dispatcher().run_once()
        assert len(old_receiver.verified) == 2
        clock.advance(hours=2)  # the overlap is over: the old secret no longer signs
        old_receiver.secrets[:] = [old]
        await earn_once(uow_factory)
        await dispatcher().run_once()
    assert old_receiver.unverified == 1


async def test_a_units_endpoint_receives_only_its_own_members_events(
    units, uow_factory, dispatcher
):
    receiver = Receiver()
    async with receiving(receiver) as url:
        hotel_key = Principal(
            kind="partner", subject="9", unit_id=units["HOTEL"], scopes=frozenset({"webhooks"})
        )
        secret, _ = await subscribe(uow_factory, url, who=hotel_key)
        receiver.secrets.append(secret)
        async with uow_factory() as uow:
            guest = await new_member(uow, "HOTEL")
            shopper = await new_member(uow, "MALL")
        async with uow_factory() as uow:
            await earn(uow, guest, "10.00", unit="MALL", ref="G-1")  # elsewhere, still its member
            await earn(uow, shopper, "10.00", unit="MALL", ref="S-1")
        await dispatcher().run_once()
    assert [d.body["data"]["memberId"] for d in receiver.verified] == [guest]


async def test_the_outbox_keeps_an_event_until_the_dispatcher_took_it(
    units, uow_factory, dispatcher, engine, clock
):
    relay = OutboxRelay(engine, clock=lambda: clock.now)
    await earn_once(uow_factory)
    await relay.sweep(now=NOW + timedelta(minutes=1), grace=timedelta(seconds=30))
    later = NOW + timedelta(days=30)
    assert await relay.prune(before=later) == 0  # relayed, not yet taken
    assert (await dispatcher().run_once()).taken == 1
    assert await relay.prune(before=later) == 1


async def test_a_voucher_restored_or_ended_reaches_its_provider_and_where_it_was_used(
    units, uow_factory, dispatcher
):
    receiver = Receiver()
    types = ("VOUCHER_USED", "VOUCHER_RESTORED", "VOUCHER_ENDED")
    async with receiving(receiver) as url:
        endpoints = {}
        for code in ("MALL", "OFFICE", "HOTEL"):
            key = Principal(
                kind="partner", subject=code, unit_id=units[code], scopes=frozenset({"webhooks"})
            )
            secret, endpoints[code] = await subscribe(uow_factory, url, events=types, who=key)
            receiver.secrets.append(secret)
        async with uow_factory() as uow:  # MALL provides parking, OFFICE may write it off
            spec = RightSpec(
                "MALL", "Parking", "PARKING_HOURS", 30, redeemable_at_unit_ids=("OFFICE",)
            )
            right = await create_right(uow, spec=spec, actor="ops:test")
            member = await new_member(uow, "HOTEL")
            held = await grant_right(
                uow, member_id=member, right_id=right.id, reason="goodwill", actor="ops:1"
            )
        async with uow_factory() as uow:
            await write_off_voucher(uow, code=held.code, unit_id=units["OFFICE"], caller="till")
        async with uow_factory() as uow:
            await undo_write_off(
                uow,
                code=held.code,
                unit_id=units["OFFICE"],
                caller="till",
                reason="wrong car",
                window=timedelta(hours=24),
            )
        async with uow_factory() as uow:
            await revoke_right(uow, member_right_id=held.id, reason="misuse", actor="ops:1")
        await dispatcher().run_once()
    assert receiver.unverified == 0
    got = {(m.endpoint_id, m.type) for m in await messages(uow_factory)}
    assert got == {
        (endpoints["MALL"], "VOUCHER_USED"),
        (endpoints["OFFICE"], "VOUCHER_USED"),
        (endpoints["MALL"], "VOUCHER_RESTORED"),
        (endpoints["OFFICE"], "VOUCHER_RESTORED"),
        (endpoints["MALL"], "VOUCHER_ENDED"),  # no unit used it: its provider only
    }
    ended = [d.body for d in receiver.verified if d.body["type"] == "VOUCHER_ENDED"]
    assert [(b["data"]["reason"], b["data"]["memberRightId"]) for b in ended] == [
        ("REVOKED", held.id)
    ]
