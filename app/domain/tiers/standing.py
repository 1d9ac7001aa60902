"""Tiers (会员等级): growth value, upgrades, the end of validity, manual grants, history.

The rules, in one place:

- **Growth value** at instant t (app.domain.tiers.growth) counts the member's orders in the 12
  months ending at t, net of refunds, weighted per unit; never the points balance, so spending
  points does not cost a tier.
- **Upgrade** the moment an order makes the window reach a higher tier's qualification threshold:
  the member moves to the highest tier the window qualifies for, valid `tier_validity_months`.
- **End of validity** V (the job, or the member's next order or spend, applies it): growth at V
  meets the tier's retention threshold -> the tier is kept for another period from V; otherwise
  ONE_LEVEL drops one rank, TO_WINDOW drops to the highest tier growth at V qualifies for. A
  tier above the lowest is then valid a period from V; the lowest tier never ends.
- **Manual grant**: an operator sets a tier until an end date, with a reason. At that date the
  normal rules apply again: the granted tier is kept if the window meets its retention
  threshold, otherwise the member takes the tier the window qualifies for (no one-level soft
  landing from a tier that was given, not earned). Orders may still upgrade a granted member.

Everything is decided as of the instant it happens (an order's time, a validity end), never as
of when a job happens to run, so running the job late, twice or concurrently changes nothing.
Changes of standing happen under the member's balance lock (`lock_balance`), so the
`member_tiers` row is only written by one transaction at a time; each change (and each renewal)
adds a `tier_history` row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select

from app.domain.ledger.expiry import add_months
from app.domain.ledger.writer import lock_balance
from app.domain.members.identity import get_member
from app.domain.shared.configuration import configuration
from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.events import EventType, tier_changed
from app.domain.shared.operator_log import log_operator_action
from app.domain.tiers.growth import growth_value
from app.models import MemberTier, Program, Tier
from app.platform.driver import columns, entity
from app.platform.uow import UnitOfWork

MAX_GRANT_MONTHS = 60

STANDING_SQL = f"SELECT {columns(MemberTier)} FROM member_tiers WHERE member_id = $1"
# A member's changes of standing: the history rows, a TIER_CHANGED event per row in the outbox
# (ids drawn in the changes' order), and the `member_tiers` row as it ends up.
_RECORD = f"""WITH change AS MATERIALIZED (
    SELECT nextval('outbox_events_id_seq') AS event_id, change.*
    FROM unnest($3::varchar[], $4::varchar[], $5::varchar[], $6::varchar[], $7::timestamptz[],
                $8::timestamptz[], $14::text[])
        WITH ORDINALITY AS change (from_tier, to_tier, reason, source, valid_until, at, event, n)
    ORDER BY n
), history AS (
    INSERT INTO tier_history (member_id, from_tier, to_tier, reason, source, actor, valid_until, at)
    SELECT $1, from_tier, to_tier, reason, source, $2, valid_until, at FROM change ORDER BY n
), event AS (
    INSERT INTO outbox_events (id, type, member_id, payload, created_at)
    SELECT event_id, '{EventType.TIER_CHANGED.value}', $1, event::jsonb, at FROM change
), standing AS (
    INSERT INTO member_tiers (member_id, tier_code, valid_until, since, manual, manual_reason)
    VALUES ($1, $9, $10, $11, $12, $13)
    ON CONFLICT (member_id) DO UPDATE
    SET tier_code = EXCLUDED.tier_code, valid_until = EXCLUDED.valid_until,
        since = EXCLUDED.since, manual = EXCLUDED.manual, manual_reason = EXCLUDED.manual_reason
)
SELECT array(SELECT event_id FROM change ORDER BY n)"""


class Source(StrEnum):
    AUTO = "AUTO"  # an order crossed a threshold
    MANUAL = "MANUAL"  # an operator granted a tier
    JOB = "JOB"  # the end of a validity period (applied by the job or the next order)


# The ladder when none is configured: everyone at one tier without benefits.
DEFAULT_TIER = Tier(
    code="NORMAL",
    name="Normal",
    rank=0,
    qualify_threshold=Decimal(0),
    retain_threshold=Decimal(0),
    earn_multiplier=Decimal(1),
    spend_value_bonus=Decimal(0),
    discounts={},
    benefits=[],
)


@dataclass(frozen=True)
class Standing:
    """A member's tier at some moment; `valid_until` None for the lowest tier."""

    tier: Tier
    valid_until: datetime | None = None
    since: datetime | None = None
    manual: bool = False
    manual_reason: str | None = None


@dataclass(frozen=True)
class TierChange:
    """One step of a member's tier history: the standing after it, and why."""

    standing: Standing
    from_tier: str | None
    reason: str
    source: str
    at: datetime


def plain(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros: 1.500 -> "1.5", 10 -> "10"."""
    return format(value.normalize(), "f")


async def read_ladder(uow: UnitOfWork) -> tuple[list[Tier], Program]:
    """The tiers lowest first (the default ladder when none are) and the programme's policies
    (the defaults when none were configured), from the worker's configuration: values in no
    session, shared (never to be changed)."""
    config = await configuration(uow)
    return config.tiers or [DEFAULT_TIER], config.program or Program()


def qualified_tier(tiers: list[Tier], growth: Decimal) -> Tier:
    """The highest tier whose qualification threshold `growth` reaches (at least the lowest)."""
    reached = [t for t in tiers if growth >= t.qualify_threshold]
    return reached[-1] if reached else tiers[0]


def next_tier(tiers: list[Tier], tier: Tier) -> Tier | None:
    return next((t for t in tiers if t.rank > tier.rank), None)


def progress(tiers: list[Tier], tier: Tier, growth: Decimal) -> tuple[Tier | None, Decimal | None]:
    """The tier above `tier` and the growth still needed to qualify for it (None at the top)."""
    above = next_tier(tiers, tier)
    if above is None:
        return None, None
    return above, max(Decimal(0), above.qualify_threshold - growth)


# --- the rules as pure functions ---------------------------------------------------------------


def upgrade_for(
    standing: Standing,
    growth: Decimal,
    tiers: list[Tier],
    program: Program,
    at: datetime,
    tz: ZoneInfo,
) -> TierChange | None:
    """The upgrade `growth` at `at` earns, if it qualifies for a tier above the current one."""
    target = qualified_tier(tiers, growth)
    if target.rank <= standing.tier.rank:
        return None
    return TierChange(
        standing=Standing(
            tier=target,
            valid_until=add_months(at.astimezone(tz), program.tier_validity_months),
            since=at,
        ),
        from_tier=standing.tier.code,
        reason=f"growth {growth} >= {target.qualify_threshold} ({target.code} qualification)",
        source=Source.AUTO,
        at=at,
    )


def end_of_validity(
    standing: Standing, growth: Decimal, tiers: list[Tier], program: Program, tz: ZoneInfo
) -> TierChange:
    """What happens at `standing.valid_until`, given the growth value of the window ending then."""
    end = standing.valid_until
    assert end is not None, "the lowest tier has no end of validity"
    tier, lowest = standing.tier, tiers[0]
    kind = "manual grant" if standing.manual else "validity"
    if tier.rank > lowest.rank and growth >= tier.retain_threshold:
        target = tier
        reason = f"{kind} ended; kept: growth {growth} >= retention {tier.retain_threshold}"
    elif standing.manual or tier.rank <= lowest.rank or program.downgrade_policy == "TO_WINDOW":
        target = qualified_tier(tiers, growth)
        reason = f"{kind} ended; growth {growth} qualifies for {target.code}"
        if tier.rank > lowest.rank:
            reason = f"{kind} ended; growth {growth} < retention {tier.retain_threshold}, " + (
                f"to the tier the window supports ({target.code})"
            )
    else:
        below = [t for t in tiers if t.rank < tier.rank]
        supported = qualified_tier(tiers, growth)
        target = max(below[-1], supported, key=lambda t: t.rank)
        reason = (
            f"{kind} ended; growth {growth} < retention {tier.retain_threshold}, one level down"
        )
    return TierChange(
        standing=Standing(
            tier=target,
            valid_until=(
                add_months(end.astimezone(tz), program.tier_validity_months)
                if target.rank > lowest.rank
                else None
            ),
            since=standing.since if target.code == tier.code else end,
        ),
        from_tier=tier.code,
        reason=reason,
        source=Source.JOB,
        at=end,
    )


# --- reading and writing a member's standing ---------------------------------------------------


def standing_of(row: MemberTier | None, tiers: list[Tier]) -> Standing:
    """The standing a `member_tiers` row records; no row (or an unknown code): the lowest tier."""
    tier = next((t for t in tiers if row is not None and t.code == row.tier_code), None)
    if row is None or tier is None:
        return Standing(tier=tiers[0])
    return Standing(
        tier=tier,
        valid_until=row.valid_until,
        since=row.since,
        manual=row.manual,
        manual_reason=row.manual_reason,
    )


async def _member_tier_row(uow: UnitOfWork, member_id: int, *, lock: bool) -> MemberTier | None:
    """The member's `member_tiers` row (a value in no session), locked with `lock`."""
    driver = await uow.driver()
    row = await driver.fetchrow(STANDING_SQL + " FOR UPDATE" if lock else STANDING_SQL, member_id)
    return entity(MemberTier, row) if row is not None else None


async def _ends_of_validity(
    uow: UnitOfWork, member_id: int, standing: Standing, tiers: list[Tier], program: Program
) -> list[TierChange]:
    """Every end of validity that has passed by now, in order (usually none or one)."""
    changes: list[TierChange] = []
    while standing.valid_until is not None and standing.valid_until <= uow.now:
        growth = await growth_value(
            uow, member_id, at=standing.valid_until, basis=program.tier_basis
        )
        change = end_of_validity(standing, growth, tiers, program, uow.tz)
        changes.append(change)
        standing = change.standing
    return changes


async def _record(uow: UnitOfWork, member_id: int, changes: list[TierChange], actor: str) -> None:
    """Write the history rows and the member's final standing (one statement)."""
    if not changes:
        return
    final = changes[-1].standing
    events = [
        tier_changed(
            member_id=member_id,
            from_tier=change.from_tier,
            to_tier=change.standing.tier.code,
            reason=change.reason[:300],
            source=str(change.source),
            valid_until=change.standing.valid_until,
            at=change.at,
        )
        for change in changes
    ]
    event_ids = await (await uow.driver()).fetchval(
        _RECORD,
        member_id,
        actor[:64],
        [change.from_tier for change in changes],
        [change.standing.tier.code for change in changes],
        [change.reason[:300] for change in changes],
        [str(change.source) for change in changes],
        [change.standing.valid_until for change in changes],
        [change.at for change in changes],
        final.tier.code,
        final.valid_until,
        final.since or changes[-1].at,
        final.manual,
        final.manual_reason,
        [json.dumps(event.payload) for event in events],
    )
    for event, event_id in zip(events, event_ids, strict=True):
        event.id = event_id
        uow.record_event(event)


async def current_standing(uow: UnitOfWork, member_id: int) -> Standing:
    """The member's standing now, read only: a validity end that passed is applied in memory
    (for a preview), and nothing is written."""
    tiers, program = await read_ladder(uow)
    standing = standing_of(await _member_tier_row(uow, member_id, lock=False), tiers)
    if standing.valid_until is None or standing.valid_until > uow.now:
        return standing
    changes = await _ends_of_validity(uow, member_id, standing, tiers, program)
    return changes[-1].standing


async def settle_standing(
    uow: UnitOfWork,
    member_id: int,
    *,
    actor: str,
    tiers: list[Tier] | None = None,
    program: Program | None = None,
) -> Standing:
    """Apply every validity end that has passed and return the standing now. The caller holds
    the member's balance lock (earning and spending do)."""
    if not tiers or program is None:
        ladder, policies = await read_ladder(uow)
        tiers, program = tiers or ladder, program or policies
    row = await _member_tier_row(uow, member_id, lock=True)
    standing = standing_of(row, tiers)
    if standing.valid_until is None or standing.valid_until > uow.now:
        return standing
    changes = await _ends_of_validity(uow, member_id, standing, tiers, program)
    await _record(uow, member_id, changes, actor)
    return changes[-1].standing


async def evaluate_upgrade(
    uow: UnitOfWork,
    member_id: int,
    *,
    actor: str,
    standing: Standing | None = None,
    tiers: list[Tier] | None = None,
    program: Program | None = None,
) -> TierChange | None:
    """Upgrade the member if the window ending now qualifies for a higher tier. Called by
    `earn_points` in the order's own transaction, under the member's balance lock, after the
    order is recorded (so the order counts); it passes the standing it settled before."""
    if not tiers or program is None:
        ladder, policies = await read_ladder(uow)
        tiers, program = tiers or ladder, program or policies
    if standing is None:
        standing = await settle_standing(uow, member_id, actor=actor, tiers=tiers, program=program)
    if next_tier(tiers, standing.tier) is None:
        return None  # already at the top: no growth to compute
    growth = await growth_value(uow, member_id, basis=program.tier_basis)
    change = upgrade_for(standing, growth, tiers, program, uow.now, uow.tz)
    if change is not None:
        await _record(uow, member_id, [change], actor)
    return change


async def evaluate_expiry(
    uow: UnitOfWork, member_id: int, *, actor: str = "job:evaluate-tiers"
) -> list[TierChange]:
    """The end-of-validity rules for one member (the job): takes the member's lock, re-reads
    the standing inside it, applies what has passed. A second run finds nothing to do."""
    await lock_balance(uow, member_id)
    tiers, program = await read_ladder(uow)
    row = await _member_tier_row(uow, member_id, lock=True)
    standing = standing_of(row, tiers)
    if standing.valid_until is None or standing.valid_until > uow.now:
        return []
    changes = await _ends_of_validity(uow, member_id, standing, tiers, program)
    await _record(uow, member_id, changes, actor)
    return changes


async def members_due_for_review(uow: UnitOfWork, limit: int = 1000) -> list[int]:
    """Members whose tier validity (or manual grant) has ended by now."""
    return list(
        await uow.session.scalars(
            select(MemberTier.member_id)
            .where(and_(MemberTier.valid_until.is_not(None), MemberTier.valid_until <= uow.now))
            .order_by(MemberTier.member_id)
            .limit(limit)
        )
    )


async def grant_tier(
    uow: UnitOfWork,
    *,
    member_id: int | str,
    tier: str,
    until: datetime,
    reason: str,
    actor: str,
) -> Standing:
    """An operator sets a member's tier until `until` (in the future), with a reason."""
    reason = (reason or "").strip()
    if not 1 <= len(reason) <= 200:
        raise DomainError(ErrorCode.INVALID_INPUT, "reason must be 1-200 characters", "reason")
    if until.tzinfo is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "until needs a UTC offset", "until")
    if until <= uow.now:
        raise DomainError(ErrorCode.INVALID_INPUT, "until must be in the future", "until")
    if until > add_months(uow.now, MAX_GRANT_MONTHS):
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"a grant lasts at most {MAX_GRANT_MONTHS} months", "until"
        )
    tiers, program = await read_ladder(uow)
    code = (tier or "").strip().upper()
    target = next((t for t in tiers if t.code == code and t is not DEFAULT_TIER), None)
    if target is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no tier {code!r}", "tierCode")
    member = await get_member(uow, member_id)
    assert member.id is not None
    await lock_balance(uow, member.id)
    standing = await settle_standing(uow, member.id, actor=actor, tiers=tiers, program=program)
    change = TierChange(
        standing=Standing(
            tier=target,
            valid_until=until,
            since=standing.since if target.code == standing.tier.code else uow.now,
            manual=True,
            manual_reason=reason,
        ),
        from_tier=standing.tier.code,
        reason=reason,
        source=Source.MANUAL,
        at=uow.now,
    )
    await _record(uow, member.id, [change], actor)
    await log_operator_action(
        uow,
        actor=actor,
        action="tier.grant",
        target_kind="member",
        target_id=member.id,
        reason=reason,
        detail={"from": standing.tier.code, "to": target.code, "until": until},
    )
    return change.standing
