"""Light rows the loaders read with fixed SQL: the columns resolvers use, typed as the ORM
types them (Decimal for numeric, aware datetimes, kinds as str, json as dict or list).

Resolvers read a row by attribute, as they read the ORM objects mutations hand over
(`execution.remember_committed` primes the balance loader with them, the source loaders prime
the unit loader), so either is accepted wherever a loader's result goes. A row is built from
an asyncpg record in column order: `SELECT {columns(Row)}` (`app.platform.driver.columns`)
and `Row(*record)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal


@dataclass(slots=True)
class BusinessUnitRow:
    id: int
    code: str
    name: str
    kind: str
    earn_points_per_cny: Decimal
    pending_days: int
    point_value_cny: Decimal
    cost_per_point: Decimal
    spend_min_points: int
    spend_step: int
    spend_max_share: Decimal
    spend_daily_cap: int | None
    growth_weight: Decimal


@dataclass(slots=True)
class MemberRow:
    id: int
    phone: str
    display_name: str
    birthday: date | None
    registered_at: datetime
    registered_via_unit_id: int
    referral_code: str
    referred_by_id: int | None


@dataclass(slots=True)
class BalanceRow:
    member_id: int
    available: int = 0
    pending: int = 0
    debt: int = 0


@dataclass(slots=True)
class TransactionRow:
    """A journal entry as listed (without its detail, caller and merchant)."""

    member_id: int
    id: int
    kind: str
    points: int
    source: str
    rule: str
    order_ref: str | None
    order_amount: Decimal | None
    cny_value: Decimal | None
    reason: str | None
    created_at: datetime
    business_unit_id: int | None
    reverses_id: int | None


@dataclass(slots=True)
class TierRow:
    code: str
    name: str
    rank: int
    qualify_threshold: Decimal
    retain_threshold: Decimal
    earn_multiplier: Decimal
    spend_value_bonus: Decimal
    discounts: dict
    benefits: list


@dataclass(slots=True)
class ProgramRow:
    id: int
    expiry_mode: str
    rolling_months: int
    refund_shortfall: str
    restore_grace_days: int
    tier_basis: str
    tier_validity_months: int
    downgrade_policy: str


@dataclass(slots=True)
class MemberTierRow:
    member_id: int
    tier_code: str
    valid_until: datetime | None
    since: datetime
    manual: bool
    manual_reason: str | None


@dataclass(slots=True)
class TierHistoryRow:
    id: int
    member_id: int
    from_tier: str | None
    to_tier: str
    reason: str
    source: str
    actor: str
    valid_until: datetime | None
    at: datetime
