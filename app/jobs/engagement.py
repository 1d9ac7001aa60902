"""Birthday gifts: every member whose birthday is today (group time) gets this year's gift.

Idempotent and safe to run twice or concurrently: one transaction per member, re-checked under
the member's balance lock, and a unique (member, year) event row.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.domain.engagement.birthdays import grant_birthday_gift, members_with_birthday_today
from app.jobs.points import JobReport, per_member
from app.platform.outbox import OutboxRelay


async def grant_birthday_gifts(
    sessions: async_sessionmaker,
    *,
    now: datetime,
    tz: ZoneInfo,
    relay: OutboxRelay | None = None,
) -> JobReport:
    """Give today's birthday gifts; members already gifted this year are skipped."""
    return await per_member(
        sessions,
        now,
        tz,
        members_with_birthday_today,
        grant_birthday_gift,
        relay=relay,
    )
