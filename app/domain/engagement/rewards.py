"""Points for what members do besides buying: check-ins (with a streak bonus), shares, reviews,
surveys; and what the engine grants: registration, referral, birthday.

Each reward is one ACTIVITY ledger entry (member available +, the group's ISSUED -) with one
lot: funded by the group's marketing budget (`funder_unit_id` None, i.e. ledger.GROUP), issued
in the name of the member's registering unit unless a partner till records the activity for its
own unit; at that unit's cost per point. The points are available at once, pay off debt first
and expire by the programme's policy. An ACTIVITY entry is not an order: growth value ignores
it and `reverseTransaction` refuses it. Every reward also has an `activity_events` row that the
caps count and whose unique key keeps it single (a check-in's local date, a birthday's year, a
referred member, a caller's reference).

Caps hold under concurrency: everything is decided under the member's balance lock.

Streak: consecutive local days (uow.tz) with a check-in. The streak keeps counting after the
bonus (7, 8, ... 14); the bonus is paid on every day that completes a block of `streak_days`
(day 7, 14, 21, ...). A missed day starts again at 1.

Referral: the referrer earns once per referred member, when the referred member's first order
that earns points is recorded (a zero-amount or zero-point order does not count, nor does a
later order after a partial refund), up to the rule's lifetime cap per referrer. When that order
is wholly refunded the reward is taken back (app.domain.till.reversals) and the referral counts
as never made: the member's next purchase that is kept pays it. Lock order: the
referred member's lock is held by the earn, then the referrer's is taken. A referrer always
registered before the member they referred (`referred_by_id` is set once, at registration, to
an existing member), so the referral graph has no cycles and no two transactions can wait on
each other's member locks through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from app.domain.engagement.rule_book import RECORDABLE, ActivityKind, active_rule, parse_kind
from app.domain.ledger.accounts import GROUP, Account, LotState, TxKind
from app.domain.ledger.expiry import expiry_for
from app.domain.ledger.writer import lock_balance, post
from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.ids import parse_id
from app.domain.shared.units import read_program
from app.models import (
    ActivityEvent,
    ActivityRule,
    BusinessUnit,
    Member,
    MemberBalance,
    PointsLot,
    PointsTransaction,
)
from app.platform.uow import UnitOfWork

ENGINE = "engine"


@dataclass(frozen=True)
class ActivityResult:
    transaction: PointsTransaction
    points: int
    streak: int | None = None


@dataclass(frozen=True)
class Grant:
    """What to record: for whom, why, and the breakdown lines."""

    member: Member
    balance: MemberBalance
    kind: ActivityKind
    source: str
    lines: list[dict[str, Any]]
    caller: str
    reference: str | None = None
    dedupe_key: str | None = None
    streak: int | None = None
    caller_ref: str | None = None
    subject_member_id: int | None = None
    issuer_unit_id: int | None = None
    order_transaction_id: int | None = None  # a referral: the purchase that paid it


def reward_line(kind: str, rule: str, points: int, detail: str = "") -> dict[str, Any]:
    return {"kind": kind, "rule": rule, "points": points, "detail": detail}


async def _member(uow: UnitOfWork, member_id: int | str) -> Member:
    text = str(member_id).strip()
    wanted = parse_id(text)
    member = await uow.session.get(Member, wanted) if wanted is not None else None
    if member is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no member {text!r}", "memberId")
    return member


async def record_activity(
    uow: UnitOfWork,
    *,
    member_id: int | str,
    kind: str,
    caller: str,
    reference: str | None = None,
    issuer_unit_id: int | None = None,
    caller_ref: str | None = None,
) -> ActivityResult:
    """Reward a CHECK_IN, SHARE, REVIEW or SURVEY by its rule; LIMIT_REACHED past a cap, and
    DUPLICATE for a reference already rewarded (nothing recorded either way)."""
    activity = parse_kind(kind)
    if activity not in RECORDABLE:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"{activity.value} is granted by the engine", "kind"
        )
    reference = (reference or "").strip() or None
    if reference is not None and len(reference) > 100:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "reference must be 1-100 characters", "reference"
        )
    member = await _member(uow, member_id)
    rule = await active_rule(uow, activity)
    if rule is None:
        raise DomainError(ErrorCode.INVALID_INPUT, f"{activity.value} earns nothing now", "kind")
    balance = await lock_balance(uow, member.id)  # caps below are counted under this lock
    today = uow.local_date()
    if activity == ActivityKind.CHECK_IN:
        dedupe_key: str | None = today.isoformat()
        if await _exists(uow, member.id, activity, dedupe_key):
            raise DomainError(ErrorCode.LIMIT_REACHED, "already checked in today", "kind")
    else:
        dedupe_key = f"ref:{reference}" if reference else None
        if dedupe_key and await _exists(uow, member.id, activity, dedupe_key):
            raise DomainError(
                ErrorCode.DUPLICATE,
                f"{activity.value} {reference} was rewarded already",
                "reference",
            )
    await _ensure_within_caps(uow, member.id, rule, today)
    lines = [
        reward_line("ACTIVITY", f"activity:{activity.value}", rule.points, f"{activity.value}")
    ]
    streak = None
    if activity == ActivityKind.CHECK_IN:
        streak = await _streak_today(uow, member.id, today)
        if rule.streak_days and rule.streak_bonus and streak % rule.streak_days == 0:
            lines.append(
                reward_line(
                    "STREAK",
                    f"streak:{rule.streak_days}d",
                    rule.streak_bonus,
                    f"day {streak} of consecutive check-ins",
                )
            )
    tx = await grant(
        uow,
        Grant(
            member=member,
            balance=balance,
            kind=activity,
            source="ACTIVITY",
            lines=lines,
            caller=caller,
            reference=reference,
            dedupe_key=dedupe_key,
            streak=streak,
            issuer_unit_id=issuer_unit_id,
            caller_ref=caller_ref,
        ),
    )
    return ActivityResult(tx, tx.points, streak)


async def grant_registration_bonus(uow: UnitOfWork, *, member_id: int) -> PointsTransaction | None:
    """The registration reward, once per member (None without an active rule)."""
    rule = await active_rule(uow, ActivityKind.REGISTRATION)
    if rule is None:
        return None
    member = await _member(uow, member_id)
    balance = await lock_balance(uow, member.id)
    if await _exists(uow, member.id, ActivityKind.REGISTRATION, "once"):
        return None
    line = reward_line("REGISTRATION", "activity:REGISTRATION", rule.points, "welcome points")
    return await grant(
        uow,
        Grant(
            member=member,
            balance=balance,
            kind=ActivityKind.REGISTRATION,
            source="REGISTRATION",
            lines=[line],
            caller=ENGINE,
            dedupe_key="once",
        ),
    )


async def reward_referral(
    uow: UnitOfWork, *, member_id: int, order_tx: PointsTransaction
) -> PointsTransaction | None:
    """After `order_tx` is recorded under the member's lock: if it is the member's first order
    that earned points, reward whoever referred them (once, within the referrer's cap)."""
    if order_tx.kind != TxKind.EARN or order_tx.points <= 0 or not (order_tx.order_amount or 0) > 0:
        return None
    member = await _member(uow, member_id)
    if member.referred_by_id is None:
        return None
    earlier = await uow.session.scalar(
        select(PointsTransaction.id)
        .where(
            PointsTransaction.member_id == member.id,
            PointsTransaction.kind == TxKind.EARN.value,
            PointsTransaction.id != order_tx.id,
            PointsTransaction.points > 0,
            PointsTransaction.order_amount > 0,
            # a purchase wholly refunded was none (its reward, if it paid one, was taken back)
            PointsTransaction.order_amount > _refunded_of(PointsTransaction.id),
        )
        .limit(1)
    )
    rule = await active_rule(uow, ActivityKind.REFERRAL)
    if earlier is not None or rule is None:
        return None
    referrer = await _member(uow, member.referred_by_id)
    balance = await lock_balance(uow, referrer.id)
    key = f"member:{member.id}"
    if await _exists(uow, referrer.id, ActivityKind.REFERRAL, key):
        return None
    if rule.lifetime_cap is not None and (
        await _count(uow, referrer.id, ActivityKind.REFERRAL) >= rule.lifetime_cap
    ):
        return None  # the purchase itself must not fail: the referrer just earns no more
    line = reward_line(
        "REFERRAL",
        "activity:REFERRAL",
        rule.points,
        f"member {member.id} made a first purchase ({order_tx.order_ref})",
    )
    return await grant(
        uow,
        Grant(
            member=referrer,
            balance=balance,
            kind=ActivityKind.REFERRAL,
            source="REFERRAL",
            lines=[line],
            caller=order_tx.caller,
            reference=order_tx.order_ref,
            dedupe_key=key,
            subject_member_id=member.id,
            order_transaction_id=order_tx.id,
        ),
    )


async def referral_paid_by(
    uow: UnitOfWork, order: PointsTransaction
) -> tuple[PointsTransaction, ActivityEvent] | None:
    """The referral reward `order` paid its member's referrer, with its event row, if it did."""
    event = await uow.session.scalar(
        select(ActivityEvent).where(
            ActivityEvent.kind == ActivityKind.REFERRAL.value,
            ActivityEvent.subject_member_id == order.member_id,
        )
    )
    if event is None or event.transaction_id is None:
        return None
    reward = await uow.session.get(PointsTransaction, event.transaction_id)
    if reward is None:
        return None
    paid_by = reward.detail.get("order_transaction_id")
    if paid_by is None:  # paid before rewards named their order: same moment, same order ref
        paid_by = (
            order.id
            if (reward.created_at, event.reference)
            == (
                order.created_at,
                order.order_ref,
            )
            else None
        )
    return (reward, event) if paid_by == order.id else None


async def forget_referral(uow: UnitOfWork, event: ActivityEvent) -> None:
    """A referral reward taken back counts as never paid: it frees its place under the
    referrer's lifetime cap, and the referred member's next kept purchase pays it (the ledger
    keeps both the reward and its reversal)."""
    await uow.session.delete(event)
    await uow.session.flush()


def _refunded_of(order_id: Any) -> Any:
    """CNY refunded of an order so far (a correlated subquery)."""
    refunds = aliased(PointsTransaction)
    return (
        select(func.coalesce(func.sum(refunds.cny_value), 0))
        .where(refunds.reverses_id == order_id, refunds.kind == TxKind.EARN_REVERSAL.value)
        .scalar_subquery()
    )


async def grant(uow: UnitOfWork, spec: Grant) -> PointsTransaction:
    """Record the reward: ACTIVITY entry, an available lot funded by the group, the event row;
    the new points pay off debt first. The member's balance lock must be held."""
    member = spec.member
    assert member.id is not None
    points = sum(line["points"] for line in spec.lines)
    unit = await uow.session.get(BusinessUnit, spec.issuer_unit_id or member.registered_via_unit_id)
    assert unit is not None and unit.id is not None
    program = await read_program(uow)
    tx = PointsTransaction(
        member_id=member.id,
        kind=TxKind.ACTIVITY.value,
        source=spec.source,
        rule="+".join(line["rule"] for line in spec.lines)[:200],
        business_unit_id=unit.id,
        points=points,
        detail={
            "breakdown": spec.lines,
            "activity": spec.kind.value,
            "reference": spec.reference,
            **({"streak": spec.streak} if spec.streak is not None else {}),
            **({"referred_member_id": spec.subject_member_id} if spec.subject_member_id else {}),
            **(
                {"order_transaction_id": spec.order_transaction_id}
                if spec.order_transaction_id
                else {}
            ),
        },
        caller=spec.caller[:64],
        caller_ref=(spec.caller_ref or spec.reference or None),
        created_at=uow.now,
    )
    legs = [(Account.MEMBER_AVAILABLE, member.id, points), (Account.ISSUED, GROUP, -points)]
    lots = [
        PointsLot(
            member_id=member.id,
            transaction_id=0,  # the writer gives it the reward's id
            issuer_unit_id=unit.id,
            funder_unit_id=None,  # the group's marketing budget
            cost_per_point=unit.cost_per_point,
            points=points,
            remaining=points,
            state=LotState.AVAILABLE.value,
            earned_at=uow.now,
            expires_at=expiry_for(program, uow.now, uow.tz),
        )
    ]
    await post(uow, tx, legs if points else [], lots if points else [], spec.balance)
    assert tx.id is not None
    uow.session.add(
        ActivityEvent(
            member_id=member.id,
            kind=spec.kind.value,
            local_date=uow.local_date(),
            dedupe_key=spec.dedupe_key,
            streak=spec.streak,
            points=points,
            transaction_id=tx.id,
            subject_member_id=spec.subject_member_id,
            reference=spec.reference,
            caller=spec.caller[:64],
            created_at=uow.now,
        )
    )
    await uow.session.flush()
    return tx


async def _exists(uow: UnitOfWork, member_id: int, kind: ActivityKind, key: str) -> bool:
    found = await uow.session.scalar(
        select(ActivityEvent.id).where(
            ActivityEvent.member_id == member_id,
            ActivityEvent.kind == kind.value,
            ActivityEvent.dedupe_key == key,
        )
    )
    return found is not None


async def _count(
    uow: UnitOfWork, member_id: int, kind: ActivityKind, on: date | None = None
) -> int:
    query = select(func.count()).where(
        ActivityEvent.member_id == member_id, ActivityEvent.kind == kind.value
    )
    if on is not None:
        query = query.where(ActivityEvent.local_date == on)
    return int(await uow.session.scalar(query) or 0)


async def _ensure_within_caps(
    uow: UnitOfWork, member_id: int, rule: ActivityRule, today: date
) -> None:
    kind = ActivityKind(rule.kind)
    if rule.daily_cap is not None and await _count(uow, member_id, kind, today) >= rule.daily_cap:
        raise DomainError(
            ErrorCode.LIMIT_REACHED, f"{kind.value}: {rule.daily_cap} a day at most", "kind"
        )
    if rule.lifetime_cap is not None and await _count(uow, member_id, kind) >= rule.lifetime_cap:
        raise DomainError(
            ErrorCode.LIMIT_REACHED, f"{kind.value}: {rule.lifetime_cap} in all at most", "kind"
        )


async def last_check_in(uow: UnitOfWork, member_id: int) -> ActivityEvent | None:
    """The member's latest check-in, if any."""
    return (
        await uow.session.scalars(
            select(ActivityEvent)
            .where(
                ActivityEvent.member_id == member_id,
                ActivityEvent.kind == ActivityKind.CHECK_IN.value,
            )
            .order_by(ActivityEvent.local_date.desc())  # type: ignore[attr-defined]
            .limit(1)
        )
    ).first()


async def _streak_today(uow: UnitOfWork, member_id: int, today: date) -> int:
    last = await last_check_in(uow, member_id)
    if last is not None and last.local_date == today - timedelta(days=1):
        return (last.streak or 0) + 1
    return 1
