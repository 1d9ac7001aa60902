"""The webhook dispatcher: takes the outbox's events into messages and delivers them, signed,
at least once (app.domain.webhooks; docs/webhooks.md).

`serve` runs one in every worker as a background task (WEBHOOKS_DISPATCH), woken by the
worker's outbox relay after each commit that recorded events and else every
WEBHOOKS_POLL_SECONDS; `python -m app webhooks run` runs it alone (production may run it so
and switch it off in the gateway's workers); `python -m app jobs dispatch-webhooks` makes one
pass. Any number may run at once: taking is one worker at a time, delivery is shared by
claims, so a message's attempt is sent by one worker only.

Each pass: take every untaken event (batches of 500), then claim due messages in batches
of WEBHOOKS_CONCURRENCY, send each batch at once, record the batch's successes in one
transaction and each failure (its retry schedule, its endpoint's health) in its own.
The `webhook-timestamp` is the wall clock's (a receiver compares it with its own), the
schedule the dispatcher's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.domain.webhooks.deliveries import (
    Attempted,
    Claimed,
    Outcome,
    Recorded,
    claim_due,
    record_attempt,
    record_deliveries,
)
from app.domain.webhooks.fan_out import BATCH, take_events
from app.domain.webhooks.signing import signature_headers
from app.platform.metrics import Metrics
from app.platform.outbox import DomainEvent
from app.platform.uow import unit_of_work
from app.settings import Settings
from app.sources.webhooks import WebhookSender

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DispatchReport:
    taken: int = 0
    attempts: int = 0
    delivered: int = 0

    def __add__(self, other: DispatchReport) -> DispatchReport:
        return DispatchReport(
            self.taken + other.taken,
            self.attempts + other.attempts,
            self.delivered + other.delivered,
        )


class WebhookDispatcher:
    """One worker's dispatcher."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker,
        settings: Settings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        metrics: Metrics | None = None,
        sender: WebhookSender | None = None,
        draw: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self.sender = sender or WebhookSender(
            timeout=settings.webhooks_timeout_seconds, private_ok=settings.webhooks_private_ok
        )
        self.draw = draw
        self._wake = asyncio.Event()

    def nudge(self, events: Sequence[DomainEvent] = ()) -> None:
        """An outbox consumer: new events were committed, look now rather than at the next
        poll."""
        self._wake.set()

    def _uow(self):
        return unit_of_work(self.sessions, now=self.clock(), tz=self.settings.tz)

    async def take(self) -> int:
        """Take every untaken event into messages; how many."""
        total = 0
        while True:
            async with self._uow() as uow:
                taken = await take_events(uow, limit=BATCH)
            total += taken
            if taken < BATCH:
                return total

    async def deliver_due(self) -> DispatchReport:
        """Send every message due now, batch after batch, until none is due."""
        report = DispatchReport()
        lease = timedelta(seconds=self.settings.webhooks_lease_seconds)
        while True:
            async with self._uow() as uow:
                claimed = await claim_due(
                    await uow.driver(),
                    now=uow.now,
                    lease=lease,
                    limit=self.settings.webhooks_concurrency,
                )
            if not claimed:
                return report
            sent = await asyncio.gather(*(self._send(one) for one in claimed))
            delivered = [(one, attempted) for one, attempted in sent if attempted.succeeded]
            if delivered:
                async with self._uow() as uow:
                    await record_deliveries(uow, delivered)
                if self.metrics is not None:
                    self.metrics.webhook_attempts.labels(Outcome.DELIVERED.value).inc(
                        len(delivered)
                    )
            for one, attempted in sent:
                if not attempted.succeeded:
                    await self._record_failure(one, attempted)
            report += DispatchReport(attempts=len(sent), delivered=len(delivered))

    async def run_once(self) -> DispatchReport:
        """One pass: take, then deliver what is due."""
        taken = await self.take()
        return DispatchReport(taken=taken) + await self.deliver_due()

    async def run_forever(self) -> None:
        """Passes for the life of the worker: after each, wait for a nudge or the poll."""
        while True:
            self._wake.clear()
            try:
                await self.run_once()
            except Exception:  # the database is away: try again at the next pass
                log.warning("webhook dispatch failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.webhooks_poll_seconds)

    async def aclose(self) -> None:
        await self.sender.aclose()

    async def _send(self, claimed: Claimed) -> tuple[Claimed, Attempted]:
        headers = signature_headers(
            claimed.webhook_id, claimed.body, claimed.secrets, datetime.now(UTC)
        )
        answer = await self.sender.send(claimed.url, claimed.body, headers)
        return claimed, Attempted(
            status_code=answer.status_code,
            duration_ms=answer.duration_ms,
            error=answer.error,
            excerpt=answer.excerpt,
            retry_after=answer.retry_after,
        )

    async def _record_failure(self, claimed: Claimed, attempted: Attempted) -> Recorded:
        """A failed attempt: its retry schedule, and perhaps its endpoint disabled."""
        async with self._uow() as uow:
            recorded = await record_attempt(
                uow,
                claimed,
                attempted,
                disable_after=timedelta(days=self.settings.webhooks_disable_after_days),
                draw=self.draw,
            )
        if self.metrics is not None:
            self.metrics.webhook_attempts.labels(recorded.outcome.value).inc()
        if recorded.disabled:
            why = "gone" if attempted.status_code == 410 else "failing"
            if self.metrics is not None:
                self.metrics.webhook_endpoints_disabled.labels(why).inc()
            log.warning("webhook endpoint %d disabled: %s", claimed.endpoint_id, recorded.disabled)
        return recorded
