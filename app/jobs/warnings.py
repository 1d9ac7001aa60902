"""The warning jobs: POINTS_EXPIRING (`jobs warn-expiring-points`) and TIER_DOWNGRADE_WARNING
(`jobs warn-tier-downgrades`), each member warned once per day of expiry or end of validity,
so both are safe to run twice or at once. Their horizons are POINTS_EXPIRING_WARNING_DAYS and
TIER_DOWNGRADE_WARNING_DAYS. The events reach subscribers through webhooks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.domain.ledger.warnings import warn_expiring_points as warn_points
from app.domain.tiers.warnings import warn_tier_downgrades as warn_tiers
from app.platform.outbox import OutboxRelay
from app.platform.uow import unit_of_work
from app.settings import Settings

BATCH = 500


async def warn_expiring_points(
    sessions: async_sessionmaker,
    *,
    settings: Settings,
    now: datetime,
    relay: OutboxRelay | None = None,
) -> int:
    """Warn of every day with points expiring within the horizon, once; how many warnings."""
    total = 0
    while True:
        async with unit_of_work(sessions, now=now, tz=settings.tz, relay=relay) as uow:
            warned = await warn_points(
                uow, within_days=settings.points_expiring_warning_days, limit=BATCH
            )
        total += warned
        if warned < BATCH:
            return total


async def warn_tier_downgrades(
    sessions: async_sessionmaker,
    *,
    settings: Settings,
    now: datetime,
    relay: OutboxRelay | None = None,
) -> int:
    """Warn every member whose tier ends within the horizon below retention, once."""
    total, after = 0, 0
    while True:
        async with unit_of_work(sessions, now=now, tz=settings.tz, relay=relay) as uow:
            warned, last = await warn_tiers(
                uow,
                within_days=settings.tier_downgrade_warning_days,
                after_member=after,
                limit=BATCH,
            )
        total += warned
        if last is None:
            return total
        after = last
