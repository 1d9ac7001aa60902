"""The transactional outbox: domain events are rows written in the transaction that caused
them, and handed to their consumers after it committed.

- Recording: a domain function calls `uow.record_event(DomainEvent(...))`; the unit of work
  writes what is still unwritten in one statement just before COMMIT. A hot statement writes
  its event itself, inside the statement it sends anyway, and adds the written event to
  `uow.events` (the ledger's writer: a points movement and its POINTS_CHANGED event are one
  round trip).
- Relaying: after the commit, `OutboxRelay.relay` hands the unit's events to every consumer at
  once (live updates: the worker's PointsAnnouncer, which does not wait for Redis either), and
  marks them relayed in batches: one UPDATE per `mark_interval` for all events relayed
  meanwhile, off the request's path.
- Taking (webhooks): the webhook dispatcher is a durable consumer that reads this table itself
  rather than being handed events in memory: it makes each event's messages and sets
  `webhooks_taken_at` in one transaction (app.domain.webhooks.fan_out); pruning keeps an event
  until it was taken. The relay only wakes the dispatcher.
- Sweeping: events a worker never relayed (it died between COMMIT and the relay, or the
  commit's answer was lost) are relayed by `sweep`, which every worker runs every few seconds
  (and `python -m app jobs relay-outbox` on demand) for events older than a grace period,
  claiming them with FOR UPDATE SKIP LOCKED so two sweepers never take the same event.

So no event is sent for a rolled-back transaction (its row rolled back with it) and none is
lost for a committed one (its row waits until relayed). Delivery is at least once: a worker
that dies after relaying and before marking leaves the event to the sweeper, which relays it
again; consumers are idempotent (a live update makes the subscriber read the balance; a
webhook delivery is keyed by the event's id).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from app.platform.driver import Driver
from app.platform.reads import pooled

log = logging.getLogger(__name__)


@dataclass
class DomainEvent:
    """Something that happened, for whoever listens after the commit. `id` is the outbox row's
    once written."""

    type: str
    payload: dict[str, Any]
    member_id: int | None = None
    business_unit_id: int | None = None
    id: int | None = None


Consumer = Callable[[Sequence[DomainEvent]], None]

# New rows, their ids drawn in the events' order so each event learns its own.
_WRITE = """WITH event AS MATERIALIZED (
    SELECT nextval('outbox_events_id_seq') AS id, given.*
    FROM unnest($1::varchar[], $2::int[], $3::int[], $4::text[])
        WITH ORDINALITY AS given (type, member_id, business_unit_id, payload, n)
    ORDER BY n
), written AS (
    INSERT INTO outbox_events (id, type, member_id, business_unit_id, payload, created_at)
    SELECT id, type, member_id, business_unit_id, payload::jsonb, $5 FROM event ORDER BY n
)
SELECT array(SELECT id FROM event ORDER BY n)"""
_MARK = """UPDATE outbox_events SET relayed_at = $2
WHERE id = ANY($1::bigint[]) AND relayed_at IS NULL"""
_CLAIM = """SELECT id, type, member_id, business_unit_id, payload FROM outbox_events
WHERE relayed_at IS NULL AND created_at <= $1
ORDER BY id LIMIT $2
FOR UPDATE SKIP LOCKED"""
# Only events the webhook dispatcher has taken too: it is a durable consumer, which reads the
# table itself (app.domain.webhooks.fan_out), and an event pruned before it was taken would be
# a webhook never sent.
_PRUNE = """DELETE FROM outbox_events WHERE id IN (
    SELECT id FROM outbox_events
    WHERE relayed_at < $1 AND webhooks_taken_at IS NOT NULL ORDER BY id LIMIT $2)"""


async def write_events(driver: Driver, events: Sequence[DomainEvent], at: datetime) -> None:
    """Write `events` (not yet written) in the driver's transaction, in one statement."""
    ids = await driver.fetchval(
        _WRITE,
        [event.type for event in events],
        [event.member_id for event in events],
        [event.business_unit_id for event in events],
        [json.dumps(event.payload, default=str) for event in events],
        at,
    )
    for event, event_id in zip(events, ids, strict=True):
        event.id = event_id


class OutboxRelay:
    """A worker's relay: hands committed events to its consumers and marks them relayed."""

    def __init__(
        self,
        engine: AsyncEngine,
        consumers: Sequence[Consumer] = (),
        *,
        clock: Callable[[], datetime],
        mark_interval: float = 0.2,
    ) -> None:
        self.engine = engine
        self.consumers = list(consumers)
        self.clock = clock
        self.mark_interval = mark_interval
        self._to_mark: list[int] = []
        self._marking: asyncio.Task[None] | None = None
        self._hurry = asyncio.Event()

    def relay(self, events: Sequence[DomainEvent]) -> None:
        """After a commit: give its events to the consumers now; mark them relayed soon."""
        written = [event for event in events if event.id is not None]
        if not written:
            return
        self._hand(written)
        self._to_mark.extend(event.id for event in written if event.id is not None)
        if self._marking is None or self._marking.done():
            self._marking = asyncio.get_running_loop().create_task(self._mark_soon())

    async def drain(self) -> None:
        """Mark what was relayed so far now (at shutdown, and in tests)."""
        self._hurry.set()
        while self._marking is not None and not self._marking.done():
            await asyncio.shield(self._marking)
        self._hurry.clear()

    async def sweep(self, *, now: datetime, grace: timedelta, limit: int = 500) -> int:
        """Relay every event older than `grace` still unrelayed (a worker died before its
        relay); returns how many. Batches of `limit`, each claimed and marked in one
        transaction, so concurrent sweepers share the work."""
        total = 0
        while True:
            async with pooled(self.engine) as driver:
                async with driver.connection.transaction():
                    rows = await driver.fetch(_CLAIM, now - grace, limit)
                    events = [
                        DomainEvent(
                            type=row["type"],
                            payload=_as_dict(row["payload"]),
                            member_id=row["member_id"],
                            business_unit_id=row["business_unit_id"],
                            id=row["id"],
                        )
                        for row in rows
                    ]
                    if events:
                        self._hand(events)
                        await driver.execute(_MARK, [event.id for event in events], self.clock())
            total += len(events)
            if len(events) < limit:
                return total

    async def prune(self, *, before: datetime, limit: int = 5000) -> int:
        """Delete events relayed before `before` that the webhook dispatcher has taken;
        returns how many."""
        total = 0
        while True:
            async with pooled(self.engine) as driver:
                status = await driver.execute(_PRUNE, before, limit)
            deleted = int(str(status).rsplit(" ", 1)[-1] or 0)
            total += deleted
            if deleted < limit:
                return total

    def _hand(self, events: Sequence[DomainEvent]) -> None:
        for consumer in self.consumers:
            try:
                consumer(events)
            except Exception:  # one consumer failing must not keep the others from theirs
                log.exception("outbox consumer %r failed", consumer)

    async def _mark_soon(self) -> None:
        while self._to_mark:
            if not self._hurry.is_set():
                try:
                    await asyncio.wait_for(self._hurry.wait(), self.mark_interval)
                except TimeoutError:
                    pass
            ids, self._to_mark = self._to_mark, []
            try:
                async with pooled(self.engine) as driver:
                    await driver.execute(_MARK, ids, self.clock())
            except Exception:  # left unrelayed: the sweeper relays them again (at least once)
                log.warning("could not mark %d outbox event(s) relayed", len(ids), exc_info=True)


def _as_dict(payload: Any) -> dict[str, Any]:
    return json.loads(payload) if isinstance(payload, str) else dict(payload)
