"""Expire lots past their expiry and release pending lots past their return window.

Each member is one transaction; its domain events (points changed) go to the outbox relay
given, after that transaction committed, so open `pointsChanged` subscriptions see the new
balance (without a relay the outbox's sweeper relays them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.domain.ledger.expiry import (
    expire_member_points,
    members_with_expired_lots,
    members_with_releasable_lots,
    release_member_points,
)
from app.platform.outbox import OutboxRelay
from app.platform.uow import UnitOfWork, unit_of_work


@dataclass(frozen=True)
class JobReport:
    members: int
    points: int


async def per_member(
    sessions: async_sessionmaker,
    now: datetime,
    tz: ZoneInfo,
    find: Callable[[UnitOfWork], Awaitable[list[int]]],
    apply: Callable[[UnitOfWork, int], Awaitable],
    relay: OutboxRelay | None = None,
) -> JobReport:
    """Apply to each member found, one transaction per member, until none are left."""
    members = points = 0
    seen: set[int] = set()
    while True:
        async with unit_of_work(sessions, now=now, tz=tz) as uow:
            batch = [m for m in await find(uow) if m not in seen]
        if not batch:
            return JobReport(members, points)
        for member_id in batch:
            seen.add(member_id)
            async with unit_of_work(sessions, now=now, tz=tz, relay=relay) as uow:
                tx = await apply(uow, member_id)
            if tx is not None:
                members += 1
                points += abs(tx.points)


async def expire_points(
    sessions: async_sessionmaker,
    *,
    now: datetime,
    tz: ZoneInfo,
    relay: OutboxRelay | None = None,
) -> JobReport:
    """Expire every lot past its expiry; breakage to each lot's funder."""
    return await per_member(
        sessions,
        now,
        tz,
        members_with_expired_lots,
        expire_member_points,
        relay=relay,
    )


async def release_pending(
    sessions: async_sessionmaker,
    *,
    now: datetime,
    tz: ZoneInfo,
    relay: OutboxRelay | None = None,
) -> JobReport:
    """Make pending lots past their return window spendable."""
    return await per_member(
        sessions,
        now,
        tz,
        members_with_releasable_lots,
        release_member_points,
        relay=relay,
    )
