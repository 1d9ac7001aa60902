"""Funding models of the units that fund points.

- POST_PAID (the default): the unit earns freely and is billed each settlement period for its
  points redeemed at other parties (app.domain.settlement.statement).
- PRE_PAID: finance records the unit's purchases of point blocks (`record_point_block`); every
  point the unit funds at an earning draws the blocks down, earliest bought first, in the
  earning's transaction; when they cannot cover it the earning is refused with
  FUNDING_EXHAUSTED and nothing is recorded (the draw rolls back with it). Its statement is
  the same as a post-paid unit's: its payable is settled from what it paid for the blocks.

The model is a column of the unit, read with the units' configuration: an earning of a
post-paid unit checks it without a statement of its own (the pinned statement counts of an
earn stay as they were). A pre-paid unit's earnings each take its open blocks' row locks, so
they run one at a time per unit, after the member's lock (always in that order).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.money import parse_amount
from app.domain.shared.operator_log import log_operator_action
from app.domain.shared.units import find_unit
from app.models import BusinessUnit, PointBlock
from app.platform.uow import UnitOfWork

MODELS = ("POST_PAID", "PRE_PAID")

# Take $2 points from unit $1's open blocks, earliest first, only if they cover them all;
# answers what the open blocks held before.
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
    RETURNING b.id
)
SELECT coalesce((SELECT max(total) FROM ranked), 0)::bigint AS available,
    (SELECT count(*) FROM drawn) AS blocks"""


async def draw_funding(
    uow: UnitOfWork, unit: BusinessUnit, funded: Iterable[tuple[int | None, int]]
) -> None:
    """Draw the points of an earning (pairs of funder unit id, points) from the blocks of each
    pre-paid funder; FUNDING_EXHAUSTED when one's blocks cannot cover its points."""
    needs: dict[int, int] = {}
    for funder_id, points in funded:
        if funder_id is not None and points > 0:
            needs[funder_id] = needs.get(funder_id, 0) + points
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


async def set_funding_model(
    uow: UnitOfWork, *, business_unit: str | int, model: str, actor: str
) -> BusinessUnit:
    """A unit's funding model from now on (POST_PAID or PRE_PAID); audited."""
    if model not in MODELS:
        raise DomainError(ErrorCode.INVALID_INPUT, "POST_PAID or PRE_PAID", "model")
    unit = await uow.session.get(BusinessUnit, (await find_unit(uow, business_unit)).id)
    assert unit is not None
    before = unit.funding_model
    unit.funding_model = model
    await log_operator_action(
        uow,
        actor=actor,
        action="set-funding-model",
        target_kind="business-unit",
        target_id=unit.id or 0,
        detail={"from": before, "to": model},
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
