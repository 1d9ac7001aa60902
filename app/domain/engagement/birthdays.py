"""Birthday gifts: granted by a job on the member's birthday in the group's time zone.

A member born on Feb 29 gets the gift on Feb 28 in years without a Feb 29. The gift is one
activity event per (member, local year), unique in the database, so the job is safe to run
twice or concurrently; each grant re-checks under the member's balance lock.
"""

from __future__ import annotations

import calendar
from datetime import date

from sqlalchemy import and_, extract, or_, select

from app.domain.engagement.rewards import ENGINE, Grant, grant, reward_line
from app.domain.engagement.rule_book import ActivityKind, active_rule
from app.domain.ledger.writer import lock_balance
from app.models import ActivityEvent, Member, PointsTransaction
from app.platform.uow import UnitOfWork


def celebrates_on(birthday: date, today: date) -> bool:
    """Whether a member born on `birthday` has their birthday `today` (Feb 29 -> Feb 28)."""
    if (birthday.month, birthday.day) == (today.month, today.day):
        return True
    leap_day = (birthday.month, birthday.day) == (2, 29)
    return leap_day and (today.month, today.day) == (2, 28) and not calendar.isleap(today.year)


async def members_with_birthday_today(uow: UnitOfWork, limit: int = 1000) -> list[int]:
    """Members whose birthday is today (group time) and who have not had this year's gift."""
    today = uow.local_date()
    same_day = and_(
        extract("month", Member.birthday) == today.month,
        extract("day", Member.birthday) == today.day,
    )
    if (today.month, today.day) == (2, 28) and not calendar.isleap(today.year):
        same_day = or_(
            same_day,
            and_(extract("month", Member.birthday) == 2, extract("day", Member.birthday) == 29),
        )
    gifted = select(ActivityEvent.id).where(
        ActivityEvent.member_id == Member.id,
        ActivityEvent.kind == ActivityKind.BIRTHDAY.value,
        ActivityEvent.dedupe_key == str(today.year),
    )
    query = (
        select(Member.id)
        .where(Member.birthday.is_not(None), same_day, ~gifted.exists())  # type: ignore[union-attr]
        .order_by(Member.id)
        .limit(limit)
    )
    return list(await uow.session.scalars(query))


async def grant_birthday_gift(uow: UnitOfWork, member_id: int) -> PointsTransaction | None:
    """This year's gift if today is the member's birthday and it was not given yet; else None."""
    rule = await active_rule(uow, ActivityKind.BIRTHDAY)
    member = await uow.session.get(Member, member_id)
    today = uow.local_date()
    if rule is None or member is None or member.birthday is None:
        return None
    if not celebrates_on(member.birthday, today):
        return None
    balance = await lock_balance(uow, member_id)
    key = str(today.year)
    gifted = await uow.session.scalar(
        select(ActivityEvent.id).where(
            ActivityEvent.member_id == member_id,
            ActivityEvent.kind == ActivityKind.BIRTHDAY.value,
            ActivityEvent.dedupe_key == key,
        )
    )
    if gifted is not None:
        return None
    line = reward_line("BIRTHDAY", "activity:BIRTHDAY", rule.points, f"birthday gift {key}")
    return await grant(
        uow,
        Grant(
            member=member,
            balance=balance,
            kind=ActivityKind.BIRTHDAY,
            source="BIRTHDAY",
            lines=[line],
            caller=f"{ENGINE}:birthday",
            reference=f"birthday:{key}",
            dedupe_key=key,
        ),
    )
