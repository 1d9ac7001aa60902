"""The terms that price a settlement period, read as they were in effect on its first day.

- Clearing price of a point: the group's (`settlement_terms`, DEFAULT_CLEARING_PRICE when none
  is in effect), overridden per redeeming unit (`settlement_unit_terms.clearing_price`).
- Billing percentage of a funder: what share of the clearing amount a unit pays for its points
  redeemed at another party (100 when none is set); the group carries the rest. Points the
  group's marketing budget funded are always billed whole, to GROUP.
- Breakage policy: GROUP keeps the breakage, or FUNDERS each keep the breakage of the points
  they funded (in proportion to what of theirs expired).
- Breakage rate: the share of the points issued the group expects never to be redeemed, when
  it can estimate it (IFRS 15 B46 / CAS 14): breakage is then recognised in proportion to
  redemptions (app.domain.settlement.breakage); None, it cannot be estimated: on expiry.

- Funding model of each unit (POST_PAID or PRE_PAID, app.domain.settlement.funding): the one
  in force on the period's first day, so a statement of a past period shows the model then.

Terms are changed by recording a new row from a date on (`set_group_terms`, `set_unit_terms`):
a closed period keeps the statement it had, so changing the past changes no closed figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import text

from app.domain.settlement.periods import Period
from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.operator_log import log_operator_action
from app.models import SettlementTerms, SettlementUnitTerms
from app.platform.uow import UnitOfWork

DEFAULT_CLEARING_PRICE = Decimal("0.01")  # CNY per point (SPEC: the demo group's price)
FULL = Decimal(100)
BREAKAGE_POLICIES = ("GROUP", "FUNDERS")

_GROUP_TERMS = text(
    "SELECT clearing_price, breakage_policy, breakage_rate FROM settlement_terms"
    " WHERE effective_from <= :day ORDER BY effective_from DESC LIMIT 1"
)
# The first day any terms estimated breakage: before it no breakage was recognised in advance.
_ESTIMATING_FROM = text(
    "SELECT min(effective_from) FROM settlement_terms WHERE breakage_rate IS NOT NULL"
)
# Per unit, the latest price and the latest percentage in effect (each may be set separately).
_UNIT_TERMS = text("""SELECT business_unit_id,
    (array_agg(clearing_price ORDER BY effective_from DESC)
        FILTER (WHERE clearing_price IS NOT NULL))[1] AS clearing_price,
    (array_agg(billing_percentage ORDER BY effective_from DESC)
        FILTER (WHERE billing_percentage IS NOT NULL))[1] AS billing_percentage
FROM settlement_unit_terms WHERE effective_from <= :day GROUP BY business_unit_id""")

# Per unit, the funding model in force on a day (units without a row: POST_PAID).
_MODELS_ON = text(
    "SELECT DISTINCT ON (business_unit_id) business_unit_id, model FROM unit_funding_models"
    " WHERE effective_from <= :day ORDER BY business_unit_id, effective_from DESC"
)


@dataclass(frozen=True)
class PeriodTerms:
    clearing_price: Decimal = DEFAULT_CLEARING_PRICE
    breakage_policy: str = "GROUP"
    breakage_rate: Decimal | None = None  # None: breakage cannot be estimated, on expiry
    unit_prices: dict[int, Decimal] = field(default_factory=dict)
    billing: dict[int, Decimal] = field(default_factory=dict)
    funding_models: dict[int, str] = field(default_factory=dict)

    def price_at(self, redeemer: int) -> Decimal:
        """The clearing price of a point redeemed at `redeemer` (a unit, or GROUP 0)."""
        return self.unit_prices.get(redeemer, self.clearing_price)

    def billing_of(self, funder: int) -> Decimal:
        """The percentage of the clearing amount `funder` pays (GROUP: always 100)."""
        return self.billing.get(funder, FULL) if funder else FULL

    def funding_model_of(self, unit: int) -> str | None:
        """The unit's funding model in the period (GROUP 0: None, it buys no blocks)."""
        return self.funding_models.get(unit, "POST_PAID") if unit else None


async def models_on(uow: UnitOfWork, day: date) -> dict[int, str]:
    """Each unit's funding model in force on `day` (units without a row: POST_PAID)."""
    rows = await uow.session.execute(_MODELS_ON, {"day": day})
    return {row.business_unit_id: row.model for row in rows}


async def terms_for(uow: UnitOfWork, period: Period) -> PeriodTerms:
    day = period.first_day
    group = (await uow.session.execute(_GROUP_TERMS, {"day": day})).first()
    units = (await uow.session.execute(_UNIT_TERMS, {"day": day})).all()
    return PeriodTerms(
        clearing_price=group.clearing_price if group else DEFAULT_CLEARING_PRICE,
        breakage_policy=group.breakage_policy if group else "GROUP",
        breakage_rate=group.breakage_rate if group else None,
        unit_prices={r.business_unit_id: r.clearing_price for r in units if r.clearing_price},
        billing={
            r.business_unit_id: r.billing_percentage
            for r in units
            if r.billing_percentage is not None
        },
        funding_models=await models_on(uow, day),
    )


async def estimating_from(uow: UnitOfWork) -> date | None:
    """The first day any group terms carried a breakage rate (None: never)."""
    day: date | None = await uow.session.scalar(_ESTIMATING_FROM)
    return day


MAX_PRICE = Decimal(1000)  # CNY per point: far above any price, within the column's range


def _price(value: Decimal | None, field_name: str = "clearingPrice") -> Decimal | None:
    """A price of a point: 0 up to 1,000 CNY with at most six decimals, or INVALID_INPUT."""
    if value is None:
        return None
    if not value.is_finite() or not 0 <= value < MAX_PRICE:
        raise DomainError(ErrorCode.INVALID_INPUT, "a price from 0 to 1,000 CNY", field_name)
    if value != value.quantize(Decimal("0.000001")):
        raise DomainError(ErrorCode.INVALID_INPUT, "a price has at most 6 decimals", field_name)
    return value


def _percentage(value: Decimal | None) -> Decimal | None:
    if value is None:
        return None
    if not value.is_finite() or not 0 <= value <= FULL:
        raise DomainError(ErrorCode.INVALID_INPUT, "a percentage 0-100", "billingPercentage")
    if value != value.quantize(Decimal("0.0001")):
        raise DomainError(
            ErrorCode.INVALID_INPUT, "a percentage has at most 4 decimals", "billingPercentage"
        )
    return value


def _rate(value: Decimal | None) -> Decimal | None:
    """A breakage rate: from 0 up to (not including) 1, at most 4 decimals; or INVALID_INPUT."""
    if value is None:
        return None
    if not value.is_finite() or not 0 <= value < 1:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "a breakage rate from 0 up to 1 (not 1)", "breakageRate"
        )
    if value != value.quantize(Decimal("0.0001")):
        raise DomainError(
            ErrorCode.INVALID_INPUT, "a breakage rate has at most 4 decimals", "breakageRate"
        )
    return value.quantize(Decimal("0.0001"))  # as the column holds it


async def set_group_terms(
    uow: UnitOfWork,
    *,
    effective_from: date,
    clearing_price: Decimal,
    breakage_policy: str,
    actor: str,
    breakage_rate: Decimal | None = None,
) -> SettlementTerms:
    """The group's terms from `effective_from` on (replacing a row of that same date);
    audited. A closed period keeps its stored statement whatever its date. `breakage_rate`
    None: breakage cannot be estimated and is recognised on expiry."""
    price, rate = _price(clearing_price), _rate(breakage_rate)
    if breakage_policy not in BREAKAGE_POLICIES:
        raise DomainError(ErrorCode.INVALID_INPUT, "breakage: GROUP or FUNDERS", "breakagePolicy")
    row = await uow.session.merge(
        SettlementTerms(
            effective_from=effective_from,
            clearing_price=price,
            breakage_policy=breakage_policy,
            breakage_rate=rate,
        )
    )
    await log_operator_action(
        uow,
        actor=actor,
        action="set-settlement-terms",
        target_kind="settlement-terms",
        target_id=effective_from.isoformat(),
        detail={
            "clearingPrice": str(price),
            "breakagePolicy": breakage_policy,
            "breakageRate": None if rate is None else str(rate),
        },
    )
    return row


async def set_unit_terms(
    uow: UnitOfWork,
    *,
    unit_id: int,
    effective_from: date,
    actor: str,
    clearing_price: Decimal | None = None,
    billing_percentage: Decimal | None = None,
) -> SettlementUnitTerms:
    """A unit's price override and/or billing percentage from `effective_from` on; audited."""
    price, billing = _price(clearing_price), _percentage(billing_percentage)
    if price is None and billing is None:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "a clearing price, a billing percentage or both", "input"
        )
    row = await uow.session.merge(
        SettlementUnitTerms(
            business_unit_id=unit_id,
            effective_from=effective_from,
            clearing_price=price,
            billing_percentage=billing,
        )
    )
    await log_operator_action(
        uow,
        actor=actor,
        action="set-unit-settlement-terms",
        target_kind="business-unit",
        target_id=unit_id,
        detail={
            "effectiveFrom": effective_from.isoformat(),
            "clearingPrice": None if price is None else str(price),
            "billingPercentage": None if billing is None else str(billing),
        },
    )
    return row
