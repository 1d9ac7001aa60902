"""From the outbox to webhook messages: each event, once, becomes one message for every
enabled endpoint that subscribed its type and may have it.

Who may have an event (an endpoint for no unit: every event it subscribed):
- points and tier events (POINTS_CHANGED, POINTS_EXPIRING, TIER_CHANGED,
  TIER_DOWNGRADE_WARNING): a unit's endpoint, for members presented to that unit (ADR 0003);
- voucher events (VOUCHER_ISSUED, VOUCHER_USED, VOUCHER_RESTORED, VOUCHER_ENDED): the unit
  providing the right, and the unit where it was used (for VOUCHER_RESTORED, where the undone
  write-off was);
- anything else (MALL_ORDER_CHANGED): the unit the event names (the order's supplier).

Taking is durable: the dispatcher reads `outbox_events` itself (oldest first, by id), writes
the messages and sets `webhooks_taken_at` in one transaction, so an event is taken once and is
never lost to a crash (the outbox keeps it until taken). One worker takes at a time (an
advisory lock, tried, never waited for), so each member's messages get their sequence numbers
in the order the events were recorded: a member's points and tier events are recorded under
the member's lock, one after the other. Delivery, the slow part, is shared between workers
(app.domain.webhooks.deliveries).

A message's body is fixed when it is made — `{type, timestamp, data}`, `data` the event's
payload plus the member's `sequence` — so every retry sends the same bytes. A body over
`MAX_BODY` bytes is not sent: its message is FAILED at once (no event comes near it today).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.domain.shared.events import EventType
from app.platform.driver import Driver
from app.platform.uow import UnitOfWork

log = logging.getLogger(__name__)

MAX_BODY = 20_000  # bytes
BATCH = 500
# pg_try_advisory_xact_lock key of the taking step: "webhook" in ASCII
TAKING_LOCK = 0x776562686F6F6B
MEMBER_EVENTS = frozenset(
    {
        EventType.POINTS_CHANGED,
        EventType.POINTS_EXPIRING,
        EventType.TIER_CHANGED,
        EventType.TIER_DOWNGRADE_WARNING,
    }
)
VOUCHER_EVENTS = frozenset(
    {
        EventType.VOUCHER_ISSUED,
        EventType.VOUCHER_USED,
        EventType.VOUCHER_RESTORED,
        EventType.VOUCHER_ENDED,
    }
)

_TAKE = """SELECT id, type, member_id, business_unit_id, payload, created_at FROM outbox_events
WHERE webhooks_taken_at IS NULL ORDER BY id LIMIT $1"""
_MARK_TAKEN = "UPDATE outbox_events SET webhooks_taken_at = $2 WHERE id = ANY($1::bigint[])"
_ENDPOINTS = "SELECT id, business_unit_id, events FROM webhook_endpoints WHERE disabled_at IS NULL"
_KNOWN = """SELECT member_id, business_unit_id FROM member_unit_links
WHERE member_id = ANY($1::int[]) AND business_unit_id = ANY($2::int[])"""
_PROVIDERS = "SELECT id, provider_unit_id FROM rights WHERE id = ANY($1::bigint[])"
_SEQUENCES = """INSERT INTO webhook_member_sequences AS s (member_id, last_sequence)
SELECT * FROM unnest($1::int[], $2::bigint[])
ON CONFLICT (member_id) DO UPDATE SET last_sequence = s.last_sequence + excluded.last_sequence
RETURNING member_id, last_sequence"""
_INSERT = """INSERT INTO webhook_messages (webhook_id, endpoint_id, event_id, type, member_id,
    sequence, body, status, tries, next_attempt_at, created_at, last_error)
SELECT given.webhook_id, given.endpoint_id, given.event_id, given.type, given.member_id,
    given.sequence, given.body, given.status, 0,
    CASE WHEN given.status = 'PENDING' THEN $10::timestamptz END, $10, given.last_error
FROM unnest($1::varchar[], $2::bigint[], $3::bigint[], $4::varchar[], $5::int[], $6::bigint[],
            $7::text[], $8::varchar[], $9::varchar[])
    AS given (webhook_id, endpoint_id, event_id, type, member_id, sequence, body, status,
              last_error)
ON CONFLICT (endpoint_id, event_id) DO NOTHING"""


@dataclass(frozen=True)
class TakenEvent:
    id: int
    type: str
    member_id: int | None
    business_unit_id: int | None
    payload: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class Subscription:
    endpoint_id: int
    unit_id: int | None
    events: frozenset[str]


def may_have(
    unit_id: int | None,
    event: TakenEvent,
    known: set[tuple[int, int]],
    providers: Mapping[int, int],
) -> bool:
    """Whether an endpoint of `unit_id` (None: the group's) may have `event`, given which
    (member, unit) pairs are `known` and which unit provides each right."""
    if unit_id is None:
        return True
    if event.type in MEMBER_EVENTS:
        return event.member_id is not None and (event.member_id, unit_id) in known
    if event.type in VOUCHER_EVENTS:
        provider = providers.get(int(event.payload.get("rightId") or 0))
        return unit_id in (event.business_unit_id, provider)
    return event.business_unit_id == unit_id


def message_body(event: TakenEvent, sequence: int | None) -> str:
    """The JSON body every attempt of the event's messages sends."""
    data = dict(event.payload)
    if sequence is not None:
        data["sequence"] = sequence
    return json.dumps(
        {"type": event.type, "timestamp": event.created_at.isoformat(), "data": data},
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )


def new_webhook_id() -> str:
    """A message's `webhook-id`: unique, unguessable, the same on every retry."""
    return "msg_" + secrets.token_urlsafe(18)


async def take_events(uow: UnitOfWork, *, limit: int = BATCH) -> int:
    """Take up to `limit` untaken events: write their messages and mark them taken. Returns
    how many were taken (0 also when another worker is taking now)."""
    driver = await uow.driver()
    if not await driver.fetchval("SELECT pg_try_advisory_xact_lock($1)", TAKING_LOCK):
        return 0
    events = [
        TakenEvent(
            id=row["id"],
            type=row["type"],
            member_id=row["member_id"],
            business_unit_id=row["business_unit_id"],
            payload=_as_dict(row["payload"]),
            created_at=row["created_at"],
        )
        for row in await driver.fetch(_TAKE, limit)
    ]
    if not events:
        return 0
    pairs = await _messages_of(driver, events)
    if pairs:
        await _write(uow, driver, events, pairs)
    await driver.execute(_MARK_TAKEN, [event.id for event in events], uow.now)
    return len(events)


async def _messages_of(driver: Driver, events: Sequence[TakenEvent]) -> list[tuple[int, int]]:
    """(event id, endpoint id) of every message the events make, in the events' order."""
    subscriptions = [
        Subscription(row["id"], row["business_unit_id"], frozenset(_as_list(row["events"])))
        for row in await driver.fetch(_ENDPOINTS)
    ]
    if not subscriptions:
        return []
    unit_ids = sorted({s.unit_id for s in subscriptions if s.unit_id is not None})
    known: set[tuple[int, int]] = set()
    providers: dict[int, int] = {}
    if unit_ids:
        member_ids = sorted({e.member_id for e in events if e.member_id is not None})
        if member_ids:
            rows = await driver.fetch(_KNOWN, member_ids, unit_ids)
            known = {(row["member_id"], row["business_unit_id"]) for row in rows}
        right_ids = sorted(
            {int(e.payload.get("rightId") or 0) for e in events if e.type in VOUCHER_EVENTS}
        )
        if right_ids:
            rows = await driver.fetch(_PROVIDERS, right_ids)
            providers = {row["id"]: row["provider_unit_id"] for row in rows}
    return [
        (event.id, s.endpoint_id)
        for event in events
        for s in subscriptions
        if event.type in s.events and may_have(s.unit_id, event, known, providers)
    ]


async def _write(
    uow: UnitOfWork, driver: Driver, events: Sequence[TakenEvent], pairs: list[tuple[int, int]]
) -> None:
    """The messages, numbered per member in the events' order, in one statement."""
    by_id = {event.id: event for event in events}
    with_messages = list(dict.fromkeys(event_id for event_id, _ in pairs))  # in events' order
    counted = Counter(
        member_id
        for member_id in (by_id[event_id].member_id for event_id in with_messages)
        if member_id is not None
    )
    next_of: dict[int, int] = {}
    if counted:
        members = sorted(counted)  # one order of row locks
        rows = await driver.fetch(_SEQUENCES, members, [counted[m] for m in members])
        next_of = {row["member_id"]: row["last_sequence"] - counted[row["member_id"]] + 1
                   for row in rows}  # fmt: skip
    sequences: dict[int, int] = {}
    for event_id in with_messages:
        member_id = by_id[event_id].member_id
        if member_id is not None:
            sequences[event_id] = next_of[member_id]
            next_of[member_id] += 1
    columns: list[list[Any]] = [[] for _ in range(9)]
    for event_id, endpoint_id in pairs:
        event = by_id[event_id]
        body = message_body(event, sequences.get(event_id))
        too_big = len(body.encode()) > MAX_BODY
        if too_big:
            log.warning("webhook body of event %d over %d bytes: not sent", event_id, MAX_BODY)
        row = (
            new_webhook_id(),
            endpoint_id,
            event_id,
            event.type,
            event.member_id,
            sequences.get(event_id),
            body,
            "FAILED" if too_big else "PENDING",
            f"body over {MAX_BODY} bytes, not sent" if too_big else None,
        )
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    await driver.execute(_INSERT, *columns, uow.now)


def _as_dict(payload: Any) -> dict[str, Any]:
    return json.loads(payload) if isinstance(payload, str) else dict(payload)


def _as_list(value: Any) -> list[str]:
    return json.loads(value) if isinstance(value, str) else list(value)
