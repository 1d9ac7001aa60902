"""Growth value (成长值): what a member bought over the rolling window, the measure of tiers.

At instant t it counts the member's orders (EARN entries) recorded in the window
(t - 12 months, t], the 12 months taken on the group's calendar, each order net of what was
refunded by t. By the programme's `tier_basis`:

- SPEND (default): sum of (order CNY - CNY refunded) x the unit's `growth_weight`, rounded down
  to the cent;
- POINTS: points the orders earned (tier bonus included), less what refunds took back, lot by
  lot as the ledger did (taken, charged as debt, or found expired: expiry does not count);
- VISITS: orders not wholly refunded.

Never the points balance: spending points, or points expiring, does not change growth value.
One statement computes it for any number of members (the API's loader batches with it).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.domain.expiry import add_months
from app.domain.ledger import TxKind
from app.domain.money import CENT
from app.domain.units import get_program
from app.domain.uow import UnitOfWork
from app.models import BusinessUnit, PointsTransaction

WINDOW_MONTHS = 12


def window_start(at: datetime, tz: ZoneInfo) -> datetime:
    """Start (exclusive) of the growth window ending at `at`: 12 months earlier, group time."""
    return add_months(at.astimezone(tz), -WINDOW_MONTHS)


def growth_statement(member_ids: Iterable[int], at: datetime, tz: ZoneInfo) -> Select:
    """One statement: per member, (member_id, weighted CNY, points, visits) in the window
    ending at `at`, each order net of what was refunded by then."""
    order = PointsTransaction
    refund = aliased(PointsTransaction)
    refunded = (
        select(
            func.coalesce(func.sum(refund.cny_value), 0).label("cny"),
            # what the refunds took back per lot (points are negative), and what they would
            # have taken from lots that had expired
            func.coalesce(
                func.sum(-refund.points + func.coalesce(refund.detail["expired"].as_integer(), 0)),
                0,
            ).label("points"),
        )
        .where(
            refund.reverses_id == order.id,
            refund.kind == TxKind.EARN_REVERSAL.value,
            refund.created_at <= at,
        )
        .lateral("refunded")
    )
    net = order.order_amount - refunded.c.cny
    return (
        select(
            order.member_id,
            func.sum(net * BusinessUnit.growth_weight),
            func.sum(order.points - refunded.c.points),
            func.count().filter(net > 0),
        )
        .select_from(order)
        .join(BusinessUnit, BusinessUnit.id == order.business_unit_id)
        .join(refunded, true())
        .where(
            order.member_id.in_(list(member_ids)),
            order.kind == TxKind.EARN.value,
            order.created_at > window_start(at, tz),
            order.created_at <= at,
        )
        .group_by(order.member_id)
    )


def growth_of(row: tuple | None, basis: str) -> Decimal:
    """The growth value on `basis` from one row of `growth_statement` (zero without orders)."""
    if row is None:
        return Decimal("0.00") if basis == "SPEND" else Decimal(0)
    _, cny, points, visits = row
    if basis == "POINTS":
        return Decimal(int(points))
    if basis == "VISITS":
        return Decimal(int(visits))
    return Decimal(cny).quantize(CENT, rounding=ROUND_DOWN)


async def growth_values(
    session: AsyncSession, member_ids: list[int], *, at: datetime, tz: ZoneInfo, basis: str
) -> dict[int, Decimal]:
    """Growth value of each member in the window ending at `at` (one statement)."""
    rows = {
        row[0]: tuple(row) for row in await session.execute(growth_statement(member_ids, at, tz))
    }
    return {member_id: growth_of(rows.get(member_id), basis) for member_id in member_ids}


async def growth_value(
    uow: UnitOfWork, member_id: int, *, at: datetime | None = None, basis: str | None = None
) -> Decimal:
    """This member's growth value in the window ending at `at` (default: now)."""
    basis = basis or (await get_program(uow.session)).tier_basis
    values = await growth_values(uow.session, [member_id], at=at or uow.now, tz=uow.tz, basis=basis)
    return values[member_id]
