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

from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.ledger.expiry import add_months
from app.domain.shared.money import CENT
from app.domain.shared.units import read_program
from app.platform.driver import Driver, driver_connection
from app.platform.uow import UnitOfWork

WINDOW_MONTHS = 12

# Per member: (member_id, weighted CNY, points, visits) of the EARN entries in the window
# ($2, $3], each order net of its refunds (EARN_REVERSAL entries) recorded by $3: the CNY they
# refunded, the points they took back per lot and those they would have taken from lots that
# had expired (detail "expired").
GROWTH = """SELECT o.member_id,
       sum((o.order_amount - refunded.cny) * u.growth_weight) AS cny,
       sum(o.points - refunded.points) AS points,
       count(*) FILTER (WHERE o.order_amount - refunded.cny > 0) AS visits
FROM points_transactions o
JOIN business_units u ON u.id = o.business_unit_id
JOIN LATERAL (
    SELECT coalesce(sum(r.cny_value), 0) AS cny,
           coalesce(sum(-r.points + coalesce(CAST(r.detail ->> 'expired' AS integer), 0)), 0)
               AS points
    FROM points_transactions r
    WHERE r.reverses_id = o.id AND r.kind = 'EARN_REVERSAL' AND r.created_at <= $3
) AS refunded ON true
WHERE o.member_id = ANY($1::int[]) AND o.kind = 'EARN' AND o.created_at > $2 AND o.created_at <= $3
GROUP BY o.member_id"""


def window_start(at: datetime, tz: ZoneInfo) -> datetime:
    """Start (exclusive) of the growth window ending at `at`: 12 months earlier, group time."""
    return add_months(at.astimezone(tz), -WINDOW_MONTHS)


def growth_of(row: tuple | None, basis: str) -> Decimal:
    """The growth value on `basis` from one row of `GROWTH` (zero without orders)."""
    if row is None:
        return Decimal("0.00") if basis == "SPEND" else Decimal(0)
    _, cny, points, visits = row
    if basis == "POINTS":
        return Decimal(int(points))
    if basis == "VISITS":
        return Decimal(int(visits))
    return Decimal(cny).quantize(CENT, rounding=ROUND_DOWN)


async def growth_values(
    db: AsyncSession | Driver,
    member_ids: list[int],
    *,
    at: datetime,
    tz: ZoneInfo,
    basis: str,
) -> dict[int, Decimal]:
    """Growth value of each member in the window ending at `at` (one statement), read on a
    session's connection or a unit of work's driver."""
    driver = db if isinstance(db, Driver) else await driver_connection(db)
    rows = {
        row[0]: tuple(row)
        for row in await driver.fetch_keys(GROWTH, member_ids, window_start(at, tz), at)
    }
    return {member_id: growth_of(rows.get(member_id), basis) for member_id in member_ids}


async def growth_value(
    uow: UnitOfWork, member_id: int, *, at: datetime | None = None, basis: str | None = None
) -> Decimal:
    """This member's growth value in the window ending at `at` (default: now)."""
    basis = basis or (await read_program(uow)).tier_basis
    values = await growth_values(
        await uow.driver(), [member_id], at=at or uow.now, tz=uow.tz, basis=basis
    )
    return values[member_id]
