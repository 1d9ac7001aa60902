"""A format source over HTTP: a unit's own system (a hotel PMS, a car park, ...) answering the
gateway's small JSON contract (docs/formats.md):

    GET {url}/activity?members=12,15&limit=21[&until=2026-06-15T04:00:00+00:00]
      -> {"members": {"12": [{"kind": "STAY", "ref": "H-1", "occurredAt": "...",
                              "endedAt": "..."|null, "amount": "880.00",
                              "description": "...", "detail": {...}}, ...], "15": [...]}}
         each member's items at or before `until`, newest first, at most `limit`
    GET {url}/usage?members=12,15&since=2025-06-15T04:00:00+00:00&tz=Asia/Shanghai
      -> {"members": {"12": {"spend": "1234.50", "visits": 3, "lastVisitAt": "..."|null}}}

Both are reads, so a failed attempt (connection error, timeout, 5xx) is retried up to
`retries` times with exponential backoff (`backoff`, 2x, 4x, ...); a 4xx or an answer that
breaks the contract is not retried. Each attempt has its own `timeout`. A circuit breaker per
unit turns a failing system into immediate SourceUnavailable answers until its cool-down, and
a semaphore caps the requests in flight to the unit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from app.sources.base import (
    FormatActivityCursor,
    FormatActivityItem,
    FormatActivityKind,
    FormatUsage,
    SourceUnavailable,
)
from app.sources.breaker import BreakerState, CircuitBreaker


@dataclass(frozen=True)
class HttpSourceConfig:
    url: str
    timeout: float = 2.0
    retries: int = 2
    backoff: float = 0.1
    failure_threshold: int = 5
    reset_after: float = 30.0
    max_concurrency: int = 10


class ContractError(Exception):
    """The remote answered something the contract does not allow."""


class HttpSource:
    """A unit's format data from its remote system."""

    implementation = "http"

    def __init__(
        self,
        *,
        unit: str,
        config: HttpSourceConfig,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        record: Callable[[str, str], None] | None = None,
        on_breaker: Callable[[str, BreakerState], None] | None = None,
    ) -> None:
        self.unit = unit
        self.config = config
        self.client = client or httpx.AsyncClient()
        self.sleep = sleep
        self.record = record or (lambda unit, outcome: None)
        self.breaker = CircuitBreaker(
            failure_threshold=config.failure_threshold,
            reset_after=config.reset_after,
            clock=clock,
            on_change=(lambda state: on_breaker(unit, state)) if on_breaker else None,
        )
        self.in_flight = asyncio.Semaphore(config.max_concurrency)
        if on_breaker is not None:
            on_breaker(unit, self.breaker.state)  # the gauge shows the unit from the start

    async def activity(
        self, member_ids: Sequence[int], *, limit: int, before: FormatActivityCursor | None
    ) -> dict[int, list[FormatActivityItem]]:
        """GET /activity; items at the cursor's instant are filtered here by the full key."""
        params = {"members": ",".join(map(str, member_ids)), "limit": str(limit)}
        if before is not None:
            params["until"] = before.occurred_at.isoformat()
        body = await self._get("/activity", params)
        try:
            found = {
                member_id: [
                    self._item(member_id, raw) for raw in body["members"].get(str(member_id), [])
                ]
                for member_id in member_ids
            }
        except (KeyError, TypeError, ValueError, InvalidOperation, AttributeError) as error:
            self._failed("contract")
            raise SourceUnavailable(self.unit, "malformed answer") from error
        return {
            member_id: sorted(
                (item for item in items if item.comes_after(before)),
                key=lambda item: item.cursor,
                reverse=True,
            )[:limit]
            for member_id, items in found.items()
        }

    def _item(self, member_id: int, raw: dict[str, Any]) -> FormatActivityItem:
        occurred_at = datetime.fromisoformat(raw["occurredAt"])
        ended_at = raw.get("endedAt")
        if occurred_at.tzinfo is None:
            raise ValueError("times must carry an offset")
        return FormatActivityItem(
            member_id=member_id,
            unit=self.unit,
            kind=FormatActivityKind(raw["kind"]),
            external_ref=str(raw["ref"]),
            occurred_at=occurred_at,
            amount=Decimal(str(raw["amount"])),
            description=str(raw.get("description") or ""),
            ended_at=datetime.fromisoformat(ended_at) if ended_at else None,
            detail=dict(raw.get("detail") or {}),
        )

    async def usage(
        self, member_ids: Sequence[int], *, since: datetime, tz: ZoneInfo
    ) -> dict[int, FormatUsage]:
        """GET /usage; a member the remote does not list has no usage."""
        params = {
            "members": ",".join(map(str, member_ids)),
            "since": since.isoformat(),
            "tz": str(tz),
        }
        body = await self._get("/usage", params)
        try:
            usage: dict[int, FormatUsage] = {}
            for member_id in member_ids:
                raw = body["members"].get(str(member_id))
                last = raw.get("lastVisitAt") if raw else None
                usage[member_id] = (
                    FormatUsage(
                        spend=Decimal(str(raw["spend"])),
                        visits=int(raw["visits"]),
                        last_visit_at=datetime.fromisoformat(last) if last else None,
                    )
                    if raw
                    else FormatUsage()
                )
        except (KeyError, TypeError, ValueError, InvalidOperation, AttributeError) as error:
            self._failed("contract")
            raise SourceUnavailable(self.unit, "malformed answer") from error
        return usage

    async def _get(self, path: str, params: dict[str, str]) -> Any:
        """One logical read: breaker check, then attempts with backoff; one breaker outcome."""
        if not self.breaker.allow():
            self.record(self.unit, "rejected")
            raise SourceUnavailable(self.unit, "circuit open")
        url = self.config.url.rstrip("/") + path
        reason = "unknown"
        for attempt in range(self.config.retries + 1):
            if attempt:
                await self.sleep(self.config.backoff * 2 ** (attempt - 1))
            try:
                async with self.in_flight:
                    response = await self.client.get(
                        url, params=params, timeout=self.config.timeout
                    )
            except httpx.TimeoutException:
                reason = "timeout"
            except httpx.TransportError:
                reason = "connection error"
            else:
                if response.status_code >= 500:
                    reason = f"HTTP {response.status_code}"
                elif response.status_code >= 400:
                    self._failed("error")
                    raise SourceUnavailable(self.unit, f"HTTP {response.status_code}")
                else:
                    try:
                        body = response.json()
                    except ValueError:
                        self._failed("contract")
                        raise SourceUnavailable(self.unit, "malformed answer") from None
                    if not isinstance(body, dict) or not isinstance(body.get("members"), dict):
                        self._failed("contract")
                        raise SourceUnavailable(self.unit, "malformed answer")
                    self.breaker.record_success()
                    self.record(self.unit, "ok")
                    return body
            self.record(
                self.unit, "retry" if attempt < self.config.retries else reason_label(reason)
            )
        self.breaker.record_failure()
        raise SourceUnavailable(self.unit, reason)

    def _failed(self, outcome: str) -> None:
        self.breaker.record_failure()
        self.record(self.unit, outcome)

    async def aclose(self) -> None:
        await self.client.aclose()


def reason_label(reason: str) -> str:
    """A bounded metric label for a final failure."""
    if reason == "timeout":
        return "timeout"
    return "error"
