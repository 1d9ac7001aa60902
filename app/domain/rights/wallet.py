"""Members' wallets: issuing rights and buying them with points.

- Every issued right is one `MemberRight` with its own voucher code (app.domain.rights.codes),
  valid from issue for the right's `valid_days`, cut by its window; a VOUCHER_ISSUED event goes
  to the outbox with it.
- Buying (`buy_right`) runs under the member's balance lock, so one member's simultaneous
  attempts are counted one after another against the per-member limit; the stock is taken by
  one conditional UPDATE of the right's row, which holds that row until the transaction ends,
  so buyers of the same right never oversell it. The points go through the ledger's redemption
  (earliest-expiring lots, each point traced to its lot), with the provider as the redeeming
  unit. Any refusal rolls back the whole transaction: nothing is charged and no stock is used.
- Refusals, in the order they are checked: NOT_ON_SALE (no points price, inactive, or outside
  its window), TIER_REQUIRED, LIMIT_REACHED, OUT_OF_STOCK, INSUFFICIENT_POINTS.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.ledger.accounts import TxKind
from app.domain.ledger.redemption import redeem
from app.domain.ledger.writer import lock_member
from app.domain.rights.catalogue import LimitPeriod, get_right
from app.domain.rights.codes import new_code
from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.events import EventType
from app.domain.tiers.standing import current_standing
from app.models import MemberRight, PointsTransaction, Right
from app.platform.outbox import DomainEvent
from app.platform.uow import UnitOfWork


class RightStatus(StrEnum):
    ACTIVE = "ACTIVE"
    USED = "USED"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"
    REFUNDED = "REFUNDED"  # a bought right returned; its points went back


class RightSource(StrEnum):
    BOUGHT = "BOUGHT"
    TIER_GRANT = "TIER_GRANT"
    MALL_ORDER = "MALL_ORDER"
    LOTTERY = "LOTTERY"
    OPERATOR = "OPERATOR"


_TAKE_STOCK = """UPDATE rights SET stock_remaining = stock_remaining - 1
WHERE id = $1 AND stock_remaining > 0
RETURNING stock_remaining"""


def validity(right: Right, now: datetime) -> tuple[datetime, datetime]:
    """From when until when a right issued at `now` is valid: `valid_days` from issue (or from
    its window's start, if later), never past its window's end; NOT_ON_SALE when the window
    leaves nothing."""
    start = max(now, right.window_starts_at) if right.window_starts_at else now
    end = start + timedelta(days=right.valid_days)
    if right.window_ends_at is not None:
        end = min(end, right.window_ends_at)
    if end <= start:
        raise DomainError(ErrorCode.NOT_ON_SALE, f"{right.name} is past its window", "rightId")
    return start, end


def period_start(period: str, now: datetime, uow: UnitOfWork) -> datetime | None:
    """The start of the limit's period containing `now` (group calendar); None: a lifetime."""
    local = now.astimezone(uow.tz)
    if period == LimitPeriod.MONTH:
        return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if period == LimitPeriod.YEAR:
        return local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    return None


async def held_in_period(uow: UnitOfWork, member_id: int, right: Right) -> int:
    """How many of this right the member was issued in the limit's current period (revoked
    and refunded ones do not count)."""
    query = select(func.count()).where(
        MemberRight.member_id == member_id,
        MemberRight.right_id == right.id,
        MemberRight.status.not_in([RightStatus.REVOKED.value, RightStatus.REFUNDED.value]),  # type: ignore[attr-defined]
    )
    start = period_start(right.limit_period, uow.now, uow)
    if start is not None:
        query = query.where(MemberRight.issued_at >= start)
    return int(await uow.session.scalar(query) or 0)


async def issue_right(
    uow: UnitOfWork,
    *,
    member_id: int,
    right: Right,
    source: RightSource,
    transaction_id: int | None = None,
    points_spent: int = 0,
    until: datetime | None = None,
    mall_order_id: int | None = None,
) -> MemberRight:
    """Put one instance of `right` in the member's wallet, with a code of its own (valid no
    later than `until`, when given: a tier's monthly right ends with its month)."""
    valid_from, valid_until = validity(right, uow.now)
    if until is not None:
        valid_until = min(valid_until, until)
    for _ in range(3):  # two codes alike in 31^12 are not expected; the index decides
        code = new_code()
        held = await uow.session.scalar(
            insert(MemberRight)
            .values(
                member_id=member_id,
                right_id=right.id,
                code=code,
                status=RightStatus.ACTIVE.value,
                source=source.value,
                issued_at=uow.now,
                valid_from=valid_from,
                valid_until=valid_until,
                points_spent=points_spent,
                transaction_id=transaction_id,
                mall_order_id=mall_order_id,
            )
            .on_conflict_do_nothing(index_elements=["code"])
            .returning(MemberRight)
        )
        if held is not None:
            break
    else:
        raise AssertionError("three voucher codes in a row were taken")
    uow.record_event(
        DomainEvent(
            type=EventType.VOUCHER_ISSUED.value,
            member_id=member_id,
            business_unit_id=right.provider_unit_id,
            payload={
                "memberRightId": held.id,
                "memberId": member_id,
                "rightId": right.id,
                "rightCode": right.code,
                "source": source.value,
                "validUntil": valid_until.isoformat(),
            },
        )
    )
    return held


async def buy_right(
    uow: UnitOfWork,
    *,
    member_id: int | str,
    right_id: int | str,
    caller: str,
    caller_ref: str | None = None,
) -> MemberRight:
    """The member buys one right with points (see the module's docstring for the rules)."""
    member, balance = await lock_member(uow, member_id)
    assert member.id is not None
    right = await get_right(uow, right_id)
    if right.points_price is None or not right.active:
        raise DomainError(ErrorCode.NOT_ON_SALE, f"{right.name} is not for sale", "rightId")
    validity(right, uow.now)  # NOT_ON_SALE past its window
    if right.eligible_tiers:
        tier = (await current_standing(uow, member.id)).tier
        if tier.code not in right.eligible_tiers:
            raise DomainError(
                ErrorCode.TIER_REQUIRED,
                f"{right.name} is for {', '.join(right.eligible_tiers)} members",
                "rightId",
            )
    if right.per_member_limit is not None:
        if await held_in_period(uow, member.id, right) >= right.per_member_limit:
            raise DomainError(
                ErrorCode.LIMIT_REACHED,
                f"at most {right.per_member_limit} per member"
                + (
                    ""
                    if right.limit_period == LimitPeriod.LIFETIME
                    else f" a {right.limit_period.lower()}"
                ),
                "rightId",
            )
    if right.stock_remaining is not None:
        left = await (await uow.driver()).fetchval(_TAKE_STOCK, right.id)
        if left is None:
            raise DomainError(ErrorCode.OUT_OF_STOCK, f"{right.name} is out of stock", "rightId")
    tx = PointsTransaction(
        member_id=member.id,
        kind=TxKind.RIGHT_PURCHASE.value,
        source="RIGHT",
        rule=f"right:{right.code}",
        business_unit_id=right.provider_unit_id,
        cny_value=right.face_value,
        points=-right.points_price,
        caller=caller[:64],
        caller_ref=caller_ref,
        created_at=uow.now,
    )
    await redeem(uow, tx, balance, redeemer_unit_id=right.provider_unit_id)
    return await issue_right(
        uow,
        member_id=member.id,
        right=right,
        source=RightSource.BOUGHT,
        transaction_id=tx.id,
        points_spent=right.points_price,
    )


async def get_member_right(uow: UnitOfWork, member_right_id: int) -> tuple[MemberRight, Right]:
    """One wallet entry and its right, or NOT_FOUND."""
    row = (
        await uow.session.execute(
            select(MemberRight, Right)
            .join(Right, Right.id == MemberRight.right_id)
            .where(MemberRight.id == member_right_id)
        )
    ).first()
    if row is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no member right {member_right_id}", "id")
    return row[0], row[1]


def shown_status(held: MemberRight, now: datetime) -> str:
    """An ACTIVE right past its validity reads as EXPIRED before the nightly sweep marks it."""
    if held.status == RightStatus.ACTIVE and held.valid_until <= now:
        return RightStatus.EXPIRED.value
    return held.status


async def wallets(
    session: AsyncSession, member_ids: Sequence[int]
) -> dict[int, list[tuple[MemberRight, Right]]]:
    """Each member's rights with their catalogue entries, newest first, in one statement (the
    request's loader reads many members' wallets at once)."""
    rows = await session.execute(
        select(MemberRight, Right)
        .join(Right, Right.id == MemberRight.right_id)
        .where(MemberRight.member_id.in_(member_ids))
        .order_by(MemberRight.id.desc())
    )
    found: dict[int, list[tuple[MemberRight, Right]]] = {member_id: [] for member_id in member_ids}
    for held, right in rows.all():
        found[held.member_id].append((held, right))
    return found


async def member_rights(
    uow: UnitOfWork, member_id: int, status: str | None = None
) -> list[tuple[MemberRight, Right]]:
    """The member's wallet, newest first, with each instance's right; `status` as shown
    (`shown_status`)."""
    rows = (await wallets(uow.session, [member_id]))[member_id]
    if status is not None:
        rows = [(held, right) for held, right in rows if shown_status(held, uow.now) == status]
    return rows
