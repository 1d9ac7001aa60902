"""Funding models of the units that fund points.

- POST_PAID (the default): the unit earns freely and is billed each settlement period for its
  points redeemed at other parties (app.domain.settlement.statement).
- PRE_PAID: finance records the unit's purchases of point blocks (`record_point_block`); every
  point the unit funds at an earning draws the blocks down, earliest bought first, in the
  earning's transaction; when they cannot cover it the earning is refused with
  FUNDING_EXHAUSTED and nothing is recorded (the draw rolls back with it). Its statement is
  the same as a post-paid unit's: its payable is settled from what it paid for the blocks.

A refund that takes back points a pre-paid unit funded returns them to its blocks
(`return_funding`): every draw is recorded (`point_block_draws`, per block and earning), and a
refund gives back to the blocks that earning drew, the latest bought first (the draw-down
reversed), never more than the earning drew from each: the blocks' remaining points always
equal what they were bought with less the net draws.

The model in force today is a column of the unit, read with the units' configuration: an
earning of a post-paid unit checks it without a statement of its own (the pinned statement
counts of an earn stay as they were). Its history (`unit_funding_models`, effective dates like
the terms) tells a statement which model each funder had in its period. A pre-paid unit's
earnings and refunds each take the blocks' row locks (bought first, locked first), so they run
one at a time per unit, after the member's lock (always in that order).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from app.domain.access.principals import Principal
from app.domain.settlement.statement import GROUP_PARTY
from app.domain.settlement.statements import readable_party
from app.domain.settlement.terms import models_on
from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.money import parse_amount
from app.domain.shared.operator_log import log_operator_action
from app.domain.shared.units import find_unit
from app.models import BusinessUnit, PointBlock, UnitFundingModel
from app.platform.uow import UnitOfWork

MODELS = ("POST_PAID", "PRE_PAID")

# Take $2 points from unit $1's open blocks, earliest first, only if they cover them all;
# answers what the open blocks held before, and the draws (block ids, points).
_DRAW = """WITH locked AS (
    SELECT id, remaining, bought_at FROM point_blocks
    WHERE business_unit_id = $1 AND remaining > 0
    ORDER BY bought_at, id FOR UPDATE
), ranked AS (
    SELECT id, remaining, sum(remaining) OVER () AS total,
        coalesce(sum(remaining) OVER (ORDER BY bought_at, id
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
    FROM locked
), drawn AS (
    UPDATE point_blocks b SET remaining = b.remaining - least(r.remaining, $2 - r.before)
    FROM ranked r
    WHERE b.id = r.id AND r.before < $2 AND r.total >= $2
    RETURNING b.id, least(r.remaining, $2 - r.before)::int AS points
)
SELECT coalesce((SELECT max(total) FROM ranked), 0)::bigint AS available,
    (SELECT coalesce(array_agg(id), '{}') FROM drawn) AS blocks,
    (SELECT coalesce(array_agg(points), '{}') FROM drawn) AS points"""

_RECORD = """INSERT INTO point_block_draws (block_id, earn_transaction_id, transaction_id, points)
SELECT block, $1, $1, points FROM unnest($2::bigint[], $3::int[]) AS d (block, points)"""

# Give back up to $3 points of unit $2 that earning $1 drew, to the blocks it drew them from,
# the latest bought first, recorded as negative draws of refund $4. The blocks are locked in
# the order an earning locks them (bought first), so an earning and a refund never deadlock.
_RETURN = """WITH drawn AS (
    SELECT block_id, sum(points) AS points FROM point_block_draws
    WHERE earn_transaction_id = $1 GROUP BY block_id HAVING sum(points) > 0
), locked AS (
    SELECT b.id, b.bought_at, d.points AS drawn
    FROM point_blocks b JOIN drawn d ON d.block_id = b.id
    WHERE b.business_unit_id = $2
    ORDER BY b.bought_at, b.id FOR UPDATE OF b
), ranked AS (
    SELECT id, drawn, coalesce(sum(drawn) OVER (ORDER BY bought_at DESC, id DESC
        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
    FROM locked
), returned AS (
    UPDATE point_blocks b SET remaining = b.remaining + least(r.drawn, $3 - r.before)
    FROM ranked r
    WHERE b.id = r.id AND r.before < $3
    RETURNING b.id, least(r.drawn, $3 - r.before) AS points
), recorded AS (
    INSERT INTO point_block_draws (block_id, earn_transaction_id, transaction_id, points)
    SELECT id, $1, $4, -points FROM returned
)
SELECT coalesce(sum(points), 0)::bigint AS returned FROM returned"""


Draws = list[tuple[int, int]]  # (block id, points)


async def draw_funding(
    uow: UnitOfWork, unit: BusinessUnit, funded: Iterable[tuple[int | None, int]]
) -> Draws:
    """Draw the points of an earning (pairs of funder unit id, points) from the blocks of each
    pre-paid funder, before anything of the earning is written; FUNDING_EXHAUSTED when one's
    blocks cannot cover its points. Answers the draws, for `record_draws` once the earning
    has its id (none for post-paid funders: no statement)."""
    needs: dict[int, int] = {}
    for funder_id, points in funded:
        if funder_id is not None and points > 0:
            needs[funder_id] = needs.get(funder_id, 0) + points
    draws: Draws = []
    for funder_id in sorted(needs):  # one lock order for earns funded by several units
        funder = unit if funder_id == unit.id else await find_unit(uow, funder_id)
        if funder.funding_model != "PRE_PAID":
            continue
        row = await (await uow.driver()).fetchrow(_DRAW, funder_id, needs[funder_id])
        if row["available"] < needs[funder_id]:
            raise DomainError(
                ErrorCode.FUNDING_EXHAUSTED,
                f"{funder.code}'s point blocks hold {row['available']} points,"
                f" {needs[funder_id]} needed",
                "businessUnitId",
            )
        draws += zip(row["blocks"], row["points"], strict=True)
    return draws


async def record_draws(uow: UnitOfWork, earning_id: int, draws: Draws) -> None:
    """Record what earning `earning_id` drew from which block (so a refund returns it)."""
    if draws:
        await (await uow.driver()).execute(
            _RECORD, earning_id, [block for block, _ in draws], [points for _, points in draws]
        )


async def return_funding(
    uow: UnitOfWork, *, earning_id: int, refund_id: int, taken: Iterable[tuple[int | None, int]]
) -> int:
    """Give the points refund `refund_id` takes back from earning `earning_id` (pairs of funder
    unit id, points) back to the blocks the earning drew them from; answers how many went back
    (points of post-paid funders, or drawn before draws were recorded, go back to no block)."""
    back: dict[int, int] = {}
    for funder_id, points in taken:
        if funder_id is not None and points > 0:
            back[funder_id] = back.get(funder_id, 0) + points
    returned = 0
    for funder_id in sorted(back):  # the order an earning funded by several units locks in
        row = await (await uow.driver()).fetchrow(
            _RETURN, earning_id, funder_id, back[funder_id], refund_id
        )
        returned += int(row["returned"])
    return returned


async def set_funding_model(
    uow: UnitOfWork,
    *,
    business_unit: str | int,
    model: str,
    actor: str,
    effective_from: date | None = None,
) -> BusinessUnit:
    """A unit's funding model (POST_PAID or PRE_PAID) from `effective_from` on (default:
    today in the group's time zone; replacing a row of that same date); audited.

    A date in the past re-prices no closed statement (those are stored) but tells the open
    ones which model was in force; a date in the future is INVALID_INPUT: the model in force
    today is what an earning checks, and nothing would switch it at midnight."""
    if model not in MODELS:
        raise DomainError(ErrorCode.INVALID_INPUT, "POST_PAID or PRE_PAID", "model")
    today = uow.local_date()
    day = effective_from or today
    if day > today:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "a funding model takes effect today at the latest",
            "effectiveFrom",
        )
    unit = await uow.session.get(BusinessUnit, (await find_unit(uow, business_unit)).id)
    assert unit is not None and unit.id is not None
    before = unit.funding_model
    await uow.session.merge(
        UnitFundingModel(
            business_unit_id=unit.id, effective_from=day, model=model, recorded_by=actor[:64]
        )
    )
    await uow.session.flush()
    # the model in force today: the latest row on or before it (a backdated row may be
    # followed by a later one)
    unit.funding_model = (await models_on(uow, today)).get(unit.id, "POST_PAID")
    await log_operator_action(
        uow,
        actor=actor,
        action="set-funding-model",
        target_kind="business-unit",
        target_id=unit.id,
        detail={"from": before, "to": model, "effectiveFrom": day.isoformat()},
    )
    return unit


async def record_point_block(
    uow: UnitOfWork, *, business_unit: str | int, points: int, amount: Decimal | str, actor: str
) -> PointBlock:
    """Finance records a unit's purchase of `points` for `amount` CNY; audited."""
    unit = await find_unit(uow, business_unit)
    if not 0 < points <= 1_000_000_000:
        raise DomainError(ErrorCode.INVALID_INPUT, "points: 1 to 1,000,000,000", "points")
    block = PointBlock(
        business_unit_id=unit.id,  # type: ignore[arg-type]
        points=points,
        remaining=points,
        amount=parse_amount(amount, "amount"),
        bought_at=uow.now,
        recorded_by=actor[:64],
    )
    uow.session.add(block)
    await uow.session.flush()
    await log_operator_action(
        uow,
        actor=actor,
        action="record-point-block",
        target_kind="business-unit",
        target_id=unit.id or 0,
        detail={"block": block.id, "points": points, "amount": str(block.amount)},
    )
    return block


async def blocks_remaining(uow: UnitOfWork, business_unit: str | int) -> int:
    unit = await find_unit(uow, business_unit)
    row = await (await uow.driver()).fetchrow(
        "SELECT coalesce(sum(remaining), 0)::bigint AS left FROM point_blocks"
        " WHERE business_unit_id = $1",
        unit.id,
    )
    return int(row["left"])


async def point_blocks(
    uow: UnitOfWork, *, principal: Principal, business_unit: str | None = None
) -> list[PointBlock]:
    """The point blocks `principal` may see, by unit and earliest bought first: finance and
    ops every unit's (or one unit's), a unit's key with the `settlement` scope its own;
    PermissionDenied otherwise. A block's drawn points are `points - remaining` (net of what
    refunds gave back)."""
    party = await readable_party(uow, principal, business_unit)
    if party == GROUP_PARTY:  # the group buys no blocks
        return []
    query = select(PointBlock).order_by(
        PointBlock.business_unit_id,  # type: ignore[arg-type]
        PointBlock.bought_at,  # type: ignore[arg-type]
        PointBlock.id,  # type: ignore[arg-type]
    )
    if party is not None:
        unit = await find_unit(uow, party)
        query = query.where(PointBlock.business_unit_id == unit.id)
    return list(await uow.session.scalars(query))
