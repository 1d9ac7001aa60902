"""The domain events the contexts record, by type. Each is written to the outbox in the
transaction that caused it and handed to its consumers after the commit (app.platform.outbox):
live updates today, signed webhooks to the formats' systems next. A type is a stable name
other systems subscribe to; a payload only grows.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from app.platform.outbox import DomainEvent


class EventType(StrEnum):
    POINTS_CHANGED = "POINTS_CHANGED"  # one ledger transaction of a member (the ledger's writer)
    TIER_CHANGED = "TIER_CHANGED"  # one step of a member's tier history
    VOUCHER_ISSUED = "VOUCHER_ISSUED"  # a right put in a member's wallet (app.domain.rights)
    VOUCHER_USED = "VOUCHER_USED"  # a voucher written off at a till
    VOUCHER_RESTORED = "VOUCHER_RESTORED"  # a write-off undone: the voucher is usable again
    VOUCHER_ENDED = "VOUCHER_ENDED"  # an unused voucher revoked, refunded or expired
    # with its context: MALL_ORDER_CHANGED
    POINTS_EXPIRING = "POINTS_EXPIRING"  # points of a member expire on a day soon (a job)
    TIER_DOWNGRADE_WARNING = "TIER_DOWNGRADE_WARNING"  # a tier will end below retention (a job)
    MALL_ORDER_CHANGED = "MALL_ORDER_CHANGED"  # a mall order's status (the mall, when built)


def points_changed(
    *, member_id: int, kind: str, points: int, available: int, pending: int, at: datetime
) -> dict:
    """A POINTS_CHANGED payload but its transaction id (known once written)."""
    return {
        "memberId": member_id,
        "kind": kind,
        "points": points,
        "available": available,
        "pending": pending,
        "at": at.isoformat(),
    }


def tier_changed(
    *,
    member_id: int,
    from_tier: str | None,
    to_tier: str,
    reason: str,
    source: str,
    valid_until: datetime | None,
    at: datetime,
) -> DomainEvent:
    return DomainEvent(
        type=EventType.TIER_CHANGED.value,
        member_id=member_id,
        payload={
            "memberId": member_id,
            "fromTier": from_tier,
            "toTier": to_tier,
            "reason": reason,
            "source": source,
            "validUntil": valid_until.isoformat() if valid_until else None,
            "at": at.isoformat(),
        },
    )
