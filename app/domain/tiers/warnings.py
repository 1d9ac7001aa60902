"""A tier that will end below its retention threshold, told once (TIER_DOWNGRADE_WARNING).

A member whose tier validity (or manual grant) ends within `within_days` is warned when the
end-of-validity rules (app.domain.tiers.standing.end_of_validity), applied to the growth value
of the window ending now, would lower their tier: the event says the tier, when it ends, the
growth value, the retention threshold, what is still needed and the tier they would drop to.
A member is warned once per end of validity (`member_warnings`), so running the job twice
warns once; a member who meets the threshold meanwhile simply keeps the tier.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, select

from app.domain.shared.events import EventType
from app.domain.tiers.growth import growth_values
from app.domain.tiers.standing import end_of_validity, plain, read_ladder, standing_of
from app.models import MemberTier
from app.platform.outbox import DomainEvent
from app.platform.uow import UnitOfWork

KIND = EventType.TIER_DOWNGRADE_WARNING.value
_REMEMBER = """INSERT INTO member_warnings (kind, member_id, due_on, created_at)
VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING member_id"""


async def warn_tier_downgrades(
    uow: UnitOfWork, *, within_days: int, after_member: int = 0, limit: int = 500
) -> tuple[int, int | None]:
    """Warn members (ids after `after_member`, up to `limit` of them) whose tier ends within
    `within_days` below retention. Returns (warned, the last member looked at, None when no
    more are left)."""
    rows = list(
        await uow.session.scalars(
            select(MemberTier)
            .where(
                and_(
                    MemberTier.valid_until.is_not(None),
                    MemberTier.valid_until > uow.now,
                    MemberTier.valid_until <= uow.now + timedelta(days=within_days),
                    MemberTier.member_id > after_member,
                )
            )
            .order_by(MemberTier.member_id)
            .limit(limit)
        )
    )
    if not rows:
        return 0, None
    tiers, program = await read_ladder(uow)
    growth = await growth_values(
        await uow.driver(),
        [row.member_id for row in rows],
        at=uow.now,
        tz=uow.tz,
        basis=program.tier_basis,
    )
    driver = await uow.driver()
    warned = 0
    for row in rows:
        standing = standing_of(row, tiers)
        if standing.valid_until is None or standing.tier.code != row.tier_code:
            continue
        change = end_of_validity(standing, growth[row.member_id], tiers, program, uow.tz)
        if change.standing.tier.rank >= standing.tier.rank:
            continue
        due_on = uow.local_date(standing.valid_until).isoformat()
        if not await driver.fetchval(_REMEMBER, KIND, row.member_id, due_on, uow.now):
            continue  # warned already
        needed = max(standing.tier.retain_threshold - growth[row.member_id], 0)
        uow.record_event(
            DomainEvent(
                type=KIND,
                member_id=row.member_id,
                payload={
                    "memberId": row.member_id,
                    "tier": standing.tier.code,
                    "validUntil": standing.valid_until.isoformat(),
                    "growthValue": plain(growth[row.member_id]),
                    "retainThreshold": plain(standing.tier.retain_threshold),
                    "remaining": plain(needed),
                    "dropsTo": change.standing.tier.code,
                    "withinDays": within_days,
                },
            )
        )
        warned += 1
    return warned, rows[-1].member_id if len(rows) == limit else None
