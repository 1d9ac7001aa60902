"""`programme_figures`: the numbers the programme is steered by, for the group or one unit,
over a period (a month or a year), read from the summary tables (app.domain.figures.summary).

For a unit, points it issued, expired and has outstanding are those of lots it issued;
points redeemed are those redeemed at it; sales, visits and active members are its own. The
group's figures are the sums over every unit (and the group's own account), so a unit's
never exceed the group's. Definitions (rates and shares to 4 places, money to the cent):

- issuedPoints: points issued in the period less points refunds took back in the period;
- redeemedPoints: points redeemed in the period, net of cancellations and returns;
- expiredPoints: points that expired in the period;
- redemptionRate = redeemed / issued; breakageRate = expired / issued (null when nothing
  was issued);
- liabilityPoints: points outstanding in lots at the period's end (pending ones included;
  a member's debt is not netted off); liabilityAmount: the contract liability of the period's
  last month as its settlement statement states it: those points at the month's group
  clearing price (app.domain.settlement.statements.clearing_price_of), less the breakage
  already recognised on them ahead of expiry under an estimated breakage rate (the funders'
  **advance**, app.domain.settlement.statements.breakage_advance_at_end), so the group's
  equals the statement's liability. A unit's is its points at that price less its own
  advance as funder (the advance on points the group's budget funded is the group's, in no
  unit's figures); liabilityCost: at what they cost their funders;
- sales: order amounts of purchases that earned points, less refunds;
- pointsCost: the cost of the points issued (points x their cost per point), less what refunds
  took back; pointsCostShareOfSales = pointsCost / sales (null without sales);
  costShareAlert: that share is outside the group's band (default 3-5 %);
- activeMembers: members with at least one transaction at the unit (any unit for the group)
  in the period: an order, a redemption, a right bought, an activity, a refund.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from app.domain.figures.audience import active_members
from app.domain.figures.periods import Period, months_back
from app.domain.figures.summary import refreshed_through
from app.domain.settlement.periods import Period as SettlementPeriod
from app.domain.settlement.rounding import to_cents
from app.domain.settlement.statements import breakage_advance_at_end, clearing_price_of
from app.platform.uow import UnitOfWork

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
RATE = Decimal("0.0001")


@dataclass(frozen=True)
class CostBand:
    """The share of sales the points may cost (inclusive bounds)."""

    low: Decimal = Decimal("0.03")
    high: Decimal = Decimal("0.05")


@dataclass(frozen=True)
class ProgrammeFigures:
    period: Period
    unit_id: int | None
    issued_points: int
    redeemed_points: int
    expired_points: int
    redemption_rate: Decimal | None
    breakage_rate: Decimal | None
    liability_points: int
    liability_amount: Decimal
    liability_cost: Decimal
    sales: Decimal
    points_cost: Decimal
    points_cost_share_of_sales: Decimal | None
    cost_share_alert: bool
    active_members: int
    as_of: datetime | None


_TOTALS = """SELECT
    coalesce(sum(issued_points - taken_back_points) FILTER (WHERE day >= $2), 0) AS issued,
    coalesce(sum(redeemed_points) FILTER (WHERE day >= $2), 0) AS redeemed,
    coalesce(sum(expired_points) FILTER (WHERE day >= $2), 0) AS expired,
    coalesce(sum(issued_cost - taken_back_cost) FILTER (WHERE day >= $2), 0) AS cost,
    coalesce(sum(sales) FILTER (WHERE day >= $2), 0) AS sales,
    coalesce(sum(outstanding_change), 0) AS outstanding,
    coalesce(sum(outstanding_cost_change), 0) AS outstanding_cost
FROM figure_unit_days
WHERE day < $3 AND ($1::int IS NULL OR business_unit_id = $1)"""


def ratio(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    """part / whole to 4 places; None when `whole` is not positive."""
    if whole <= 0:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(RATE, ROUND_HALF_EVEN)


async def programme_figures(
    uow: UnitOfWork, period: Period, *, unit_id: int | None, band: CostBand
) -> ProgrammeFigures:
    """The figures of `period` for `unit_id` (None: the group); see the module's docstring."""
    driver = await uow.driver()
    row = await driver.fetchrow(_TOTALS, unit_id, period.start, period.end)
    active = await active_members(uow, period, unit_id)
    issued, sales = int(row["issued"]), Decimal(row["sales"]).quantize(CENT)
    cost = Decimal(row["cost"]).quantize(CENT, ROUND_HALF_EVEN)
    share = ratio(cost, sales)
    last = months_back(period.end, 1)
    month = SettlementPeriod(last.year, last.month)
    price = await clearing_price_of(uow, month)
    advance = await breakage_advance_at_end(uow, month)
    ahead = sum(advance.values(), ZERO) if unit_id is None else advance.get(unit_id, ZERO)
    return ProgrammeFigures(
        period=period,
        unit_id=unit_id,
        issued_points=issued,
        redeemed_points=int(row["redeemed"]),
        expired_points=int(row["expired"]),
        redemption_rate=ratio(int(row["redeemed"]), issued),
        breakage_rate=ratio(int(row["expired"]), issued),
        liability_points=int(row["outstanding"]),
        # rounded as settlement rounds it (half up), so the two agree to the cent
        liability_amount=to_cents(int(row["outstanding"]) * price) - ahead,
        liability_cost=Decimal(row["outstanding_cost"]).quantize(CENT, ROUND_HALF_EVEN),
        sales=sales,
        points_cost=cost,
        points_cost_share_of_sales=share,
        cost_share_alert=share is not None and not band.low <= share <= band.high,
        active_members=int(active),
        as_of=await refreshed_through(uow),
    )
