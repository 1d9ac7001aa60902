"""The one interface every format's data source implements, and what it answers with.

A source belongs to one business unit (by code) and answers, for many members at once (so a
DataLoader makes one call per request): their activity newest first, and their usage (spend,
visits) since a moment. Every kind of format data — hotel stays, parking sessions, mall
receipts, property bills, store orders — is normalised to `FormatActivityItem`; what is
particular to a kind (nights and room type, plate and minutes, bill period, ...) travels in
`detail`. "Format activity" is what a member did at a format; the engagement rewards'
activities (check-ins, shares, ...) are `app.domain.engagement`'s.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo


class FormatActivityKind(StrEnum):
    STAY = "STAY"  # hotel PMS
    PARKING = "PARKING"  # mall car park
    RECEIPT = "RECEIPT"  # mall merchant till
    BILL = "BILL"  # property management
    ORDER = "ORDER"  # convenience-store till


# What each format's data is made of (a unit's `format`, by default its code).
FORMAT_KINDS: dict[str, tuple[FormatActivityKind, ...]] = {
    "HOTEL": (FormatActivityKind.STAY,),
    "MALL": (FormatActivityKind.PARKING, FormatActivityKind.RECEIPT),
    "PROPERTY": (FormatActivityKind.BILL,),
    "CONVENIENCE": (FormatActivityKind.ORDER,),
}


class SourceUnavailable(Exception):
    """A unit's source failed, timed out, or its circuit breaker is open."""

    def __init__(self, unit: str, reason: str) -> None:
        super().__init__(f"{unit} data source unavailable: {reason}")
        self.unit = unit
        self.reason = reason


@dataclass(frozen=True, order=True)
class FormatActivityCursor:
    """A position in the newest-first listing: items sort by (occurred_at, unit, kind, ref)
    descending, a total order across units, so keyset pages merge exactly."""

    occurred_at: datetime
    unit: str
    kind: str
    external_ref: str

    def encode(self) -> str:
        raw = f"activity|{self.occurred_at.isoformat()}|{self.unit}|{self.kind}|{self.external_ref}"
        return base64.urlsafe_b64encode(raw.encode()).decode()

    @classmethod
    def decode(cls, cursor: str) -> FormatActivityCursor:
        """The cursor, or ValueError when it is not one of ours."""
        try:
            raw = base64.urlsafe_b64decode(cursor.encode()).decode()
            prefix, at, unit, kind, ref = raw.split("|", 4)
            moment = datetime.fromisoformat(at)
        except (ValueError, UnicodeDecodeError) as error:
            raise ValueError("malformed activity cursor") from error
        if prefix != "activity" or moment.tzinfo is None:
            raise ValueError("malformed activity cursor")
        return cls(moment, unit, kind, ref)


@dataclass(frozen=True)
class FormatActivityItem:
    """One thing a member did at a format, in the gateway's own words."""

    member_id: int
    unit: str
    kind: FormatActivityKind
    external_ref: str
    occurred_at: datetime
    amount: Decimal
    description: str
    ended_at: datetime | None = None
    detail: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def cursor(self) -> FormatActivityCursor:
        return FormatActivityCursor(self.occurred_at, self.unit, self.kind.value, self.external_ref)

    def comes_after(self, cursor: FormatActivityCursor | None) -> bool:
        """True when the item belongs on a page after `cursor` (strictly older in the order)."""
        return cursor is None or self.cursor < cursor


@dataclass(frozen=True)
class FormatUsage:
    """A member's use of one format since a moment: money spent, visits (distinct local days
    with activity) and the latest visit."""

    spend: Decimal = Decimal("0.00")
    visits: int = 0
    last_visit_at: datetime | None = None


class FormatSource(Protocol):
    """One business unit's format data, database-backed or from the unit's remote system."""

    unit: str
    implementation: str  # "database" | "http"

    async def activity(
        self, member_ids: Sequence[int], *, limit: int, before: FormatActivityCursor | None
    ) -> dict[int, list[FormatActivityItem]]:
        """Each member's items after `before`, newest first, at most `limit` each."""
        ...

    async def usage(
        self, member_ids: Sequence[int], *, since: datetime, tz: ZoneInfo
    ) -> dict[int, FormatUsage]:
        """Each member's spend and visits since `since` (days counted in `tz`)."""
        ...

    async def aclose(self) -> None:
        """Release connections the source holds."""
        ...


def newest_first(items: list[FormatActivityItem], *, limit: int) -> list[FormatActivityItem]:
    """The first `limit` items of a merged listing."""
    return sorted(items, key=lambda item: item.cursor, reverse=True)[:limit]
