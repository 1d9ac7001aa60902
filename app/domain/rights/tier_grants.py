"""Tier rights: each tier's recurring rights, granted once per member and period.

- A tier right is `quantity` instances of a right each MONTH or each YEAR of the group's
  calendar (demo: GOLD gets 2 parking hours a month, DIAMOND 4 lounge passes a year). Operators
  set them (`set_tier_right`; quantity 0 removes one), audited.
- `grant_member_tier_rights` gives a member the current period's rights of a tier they hold.
  The key (member, tier right, period) is inserted first, ON CONFLICT DO NOTHING: only the
  transaction whose insert took the key issues the vouchers, so the job run twice, two job runs
  at once, or a job run beside an upgrade grant each period once.
- The job (`python -m app jobs grant-tier-rights`) walks the members whose current tier has
  rights not yet granted for this period (one statement per batch finds them), a batch per
  transaction. An upgrade grants the new tier's current-period rights at once, in the upgrade's
  own transaction (app.domain.till.earning, and an operator's tier grant).
- A tier-granted voucher is valid for the right's days but never past its period: a month's
  parking hours end with the month, they do not pile up. Tier grants take no stock (the stock
  is what is left to sell) and are source TIER_GRANT.
- A member whose tier validity has ended but who has not been re-evaluated yet is left to the
  tier job first (the evaluate-tiers job runs before this one in the schedule).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from app.domain.rights.catalogue import get_right
from app.domain.rights.wallet import RightSource, issue_right, validity
from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.operator_log import log_operator_action
from app.domain.tiers.standing import read_ladder
from app.models import MemberRight, Right, TierRight, TierRightGrant
from app.platform.uow import UnitOfWork


class GrantPeriod(StrEnum):
    MONTH = "MONTH"
    YEAR = "YEAR"


@dataclass(frozen=True)
class Period:
    """One period of the group's calendar: its key and its end."""

    key: str
    ends_at: datetime


def current_period(period: str, now: datetime, uow: UnitOfWork) -> Period:
    """The MONTH or YEAR containing `now`, in the group's time zone."""
    local = now.astimezone(uow.tz)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if period == GrantPeriod.YEAR:
        start = start.replace(month=1)
        return Period(f"{local.year:04d}", start.replace(year=start.year + 1))
    if start.month == 12:
        end = start.replace(year=start.year + 1, month=1)
    else:
        end = start.replace(month=start.month + 1)
    return Period(f"{local.year:04d}-{local.month:02d}", end)


# The members, after $1, whose current tier has a right not granted for its current period
# ($3: the month's key, $4: the year's), and which; a member without a tier row holds $5, the
# lowest tier. At most $6 rows.
_DUE = """
SELECT m.id, tr.id
FROM members m
LEFT JOIN member_tiers t ON t.member_id = m.id
JOIN tier_rights tr ON tr.tier_code = coalesce(t.tier_code, $5)
JOIN rights r ON r.id = tr.right_id AND r.active
WHERE m.id > $1 AND (t.valid_until IS NULL OR t.valid_until > $2)
  AND NOT EXISTS (
    SELECT 1 FROM tier_right_grants g
    WHERE g.member_id = m.id AND g.tier_right_id = tr.id
      AND g.period_key = CASE tr.period WHEN 'MONTH' THEN $3 ELSE $4 END)
ORDER BY m.id, tr.id
LIMIT $6"""


async def tier_rights(
    uow: UnitOfWork, tier_code: str | None = None
) -> list[tuple[TierRight, Right]]:
    """The tier rights (of one tier, when given) with their rights, by tier and right."""
    query = select(TierRight, Right).join(Right, Right.id == TierRight.right_id)
    if tier_code is not None:
        query = query.where(TierRight.tier_code == tier_code)
    rows = await uow.session.execute(query.order_by(TierRight.tier_code, TierRight.right_id))
    return [(term, right) for term, right in rows.all()]


async def set_tier_right(
    uow: UnitOfWork,
    *,
    tier_code: str,
    right_id: int | str,
    quantity: int,
    period: str,
    actor: str,
    reason: str | None = None,
) -> TierRight | None:
    """Give a tier `quantity` of a right each period (0: the tier no longer has it); audited."""
    code = (tier_code or "").strip().upper()
    tiers, _ = await read_ladder(uow)
    if code not in {tier.code for tier in tiers}:
        raise DomainError(ErrorCode.NOT_FOUND, f"no tier {code!r}", "tierCode")
    if not 0 <= quantity <= 100:
        raise DomainError(ErrorCode.INVALID_INPUT, "quantity must be 0-100", "quantity")
    if period not in GrantPeriod.__members__:
        raise DomainError(ErrorCode.INVALID_INPUT, "period must be MONTH or YEAR", "period")
    right = await get_right(uow, right_id)
    before = await uow.session.scalar(
        select(TierRight).where(TierRight.tier_code == code, TierRight.right_id == right.id)
    )
    was = None if before is None else {"quantity": before.quantity, "period": before.period}
    term: TierRight | None = None
    if quantity == 0:
        await uow.session.execute(
            delete(TierRight).where(
                TierRight.tier_code == code,  # type: ignore[arg-type]
                TierRight.right_id == right.id,  # type: ignore[arg-type]
            )
        )
    else:
        term = await uow.session.scalar(
            insert(TierRight)
            .values(tier_code=code, right_id=right.id, quantity=quantity, period=period)
            .on_conflict_do_update(
                index_elements=["tier_code", "right_id"],
                set_={"quantity": quantity, "period": period},
            )
            .returning(TierRight)
            .execution_options(populate_existing=True)
        )
    await log_operator_action(
        uow,
        actor=actor,
        action="setTierRight",
        target_kind="tier",
        target_id=code,
        reason=(reason or "").strip()[:200] or None,
        detail={
            "rightId": right.id,
            "rightCode": right.code,
            "before": was,
            "after": None if term is None else {"quantity": quantity, "period": period},
        },
    )
    return term


async def grant_member_tier_rights(
    uow: UnitOfWork,
    member_id: int,
    tier_code: str,
    *,
    terms: list[tuple[TierRight, Right]] | None = None,
    only: set[int] | None = None,
) -> list[MemberRight]:
    """Grant the member the current period's rights of `tier_code` not granted yet (of the
    tier rights in `only`, when given); the vouchers issued."""
    if terms is None:
        terms = await tier_rights(uow, tier_code)
    issued: list[MemberRight] = []
    for term, right in terms:
        if term.tier_code != tier_code or (only is not None and term.id not in only):
            continue
        if not right.active:
            continue
        period = current_period(term.period, uow.now, uow)
        try:
            start, _ = validity(right, uow.now)
        except DomainError:  # the right's window is over: nothing to grant
            continue
        if start >= period.ends_at:
            continue  # the right's window opens after this period
        took = await uow.session.scalar(
            insert(TierRightGrant)
            .values(
                member_id=member_id,
                tier_right_id=term.id,
                period_key=period.key,
                granted_at=uow.now,
            )
            .on_conflict_do_nothing()
            .returning(TierRightGrant.member_id)
        )
        if took is None:
            continue  # granted for this period already
        for _ in range(term.quantity):
            issued.append(
                await issue_right(
                    uow,
                    member_id=member_id,
                    right=right,
                    source=RightSource.TIER_GRANT,
                    until=period.ends_at,
                )
            )
    return issued


async def members_due(
    uow: UnitOfWork, *, after_member_id: int, limit: int
) -> list[tuple[int, int]]:
    """(member id, tier right id) pairs still to grant this period, members after
    `after_member_id`, in member order; at most `limit`."""
    month = current_period(GrantPeriod.MONTH, uow.now, uow).key
    year = current_period(GrantPeriod.YEAR, uow.now, uow).key
    tiers, _ = await read_ladder(uow)
    rows = await (await uow.driver()).fetch(
        _DUE, after_member_id, uow.now, month, year, tiers[0].code, limit
    )
    return [(row[0], row[1]) for row in rows]
