"""Demo seed for activities: the demo rules before any member registers (so registrations
and referrals in the simulated history earn by them), and a check-in streak for the showcase
member: six days in a row up to yesterday, so checking in today pays the 7-day bonus."""

from __future__ import annotations

from datetime import datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.domain.engagement.rewards import record_activity
from app.domain.engagement.rule_book import seed_activity_rules
from app.platform.uow import UnitOfWork, unit_of_work

CALLER = "seed:demo"  # who the demo history says recorded it


async def seed_demo_rules(uow: UnitOfWork) -> None:
    """The demo activity rules (registration +100, check-in streak 7 days +200, ...)."""
    await seed_activity_rules(uow)


async def seed_demo_check_ins(
    sessions: async_sessionmaker, *, member_id: int | None, now: datetime, tz: ZoneInfo
) -> None:
    """Six consecutive daily check-ins ending yesterday (group time) for one member."""
    if member_id is None:
        return
    today = now.astimezone(tz).date()
    for back in range(6, 0, -1):
        at = datetime.combine(today - timedelta(days=back), clock(8, 30), tzinfo=tz)
        async with unit_of_work(sessions, now=at, tz=tz) as uow:
            await record_activity(uow, member_id=member_id, kind="CHECK_IN", caller=CALLER)
