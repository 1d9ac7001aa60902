"""A member's activity progress: today's check-in, the live streak, what each cap leaves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from app.domain.engagement.rewards import last_check_in
from app.domain.engagement.rule_book import RECORDABLE, ActivityKind, list_rules
from app.models import ActivityEvent
from app.platform.uow import UnitOfWork


@dataclass(frozen=True)
class Allowance:
    kind: str
    points: int
    active: bool
    used_today: int
    daily_cap: int | None
    used_total: int
    lifetime_cap: int | None

    @property
    def remaining_today(self) -> int | None:
        """Rewards left today (None: no cap), within what the lifetime cap still allows."""
        left = [
            cap - used
            for cap, used in (
                (self.daily_cap, self.used_today),
                (self.lifetime_cap, self.used_total),
            )
            if cap is not None
        ]
        return max(0, min(left)) if left else None


@dataclass(frozen=True)
class ActivityProgress:
    member_id: int
    checked_in_today: bool
    streak: int
    check_ins_to_bonus: int | None
    allowances: list[Allowance]


async def activity_progress(uow: UnitOfWork, *, member_id: int) -> ActivityProgress:
    """Where the member stands today (group time); the member must exist."""
    today = uow.local_date()
    counts = {
        kind: (int(on_day or 0), int(total))
        for kind, on_day, total in await uow.session.execute(
            select(
                ActivityEvent.kind,
                func.count().filter(ActivityEvent.local_date == today),
                func.count(),
            )
            .where(ActivityEvent.member_id == member_id)
            .group_by(ActivityEvent.kind)
        )
    }
    rules = {rule.kind: rule for rule in await list_rules(uow)}
    allowances = [
        Allowance(
            kind=rule.kind,
            points=rule.points,
            active=rule.active,
            used_today=counts.get(rule.kind, (0, 0))[0],
            daily_cap=rule.daily_cap,
            used_total=counts.get(rule.kind, (0, 0))[1],
            lifetime_cap=rule.lifetime_cap,
        )
        for rule in rules.values()
        if ActivityKind(rule.kind) in RECORDABLE
    ]
    last = await last_check_in(uow, member_id)
    alive = last is not None and last.local_date >= today - timedelta(days=1)
    streak = (last.streak or 0) if last is not None and alive else 0
    check_in = rules.get(ActivityKind.CHECK_IN.value)
    to_bonus = None
    if check_in is not None and check_in.streak_days and check_in.streak_bonus:
        to_bonus = check_in.streak_days - streak % check_in.streak_days
    return ActivityProgress(
        member_id=member_id,
        checked_in_today=last is not None and last.local_date == today,
        streak=streak,
        check_ins_to_bonus=to_bonus,
        allowances=allowances,
    )
