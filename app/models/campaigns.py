"""Campaigns: bonus-point rules operators edit as data, and each member's use of their caps.

A budgeted campaign's `spent` is the points it has given net of refunds, kept under the row's
lock; the check constraint makes overspending its `budget` impossible whatever the code does.
Without a budget the column is not kept (earns must not queue on the row): what the campaign
gave is the sum of `campaign_member_usage`, the points one member received from one campaign
(net of refunds), which also serves per-member caps.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Integer,
    Numeric,
    String,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel


def _ts(nullable: bool = False) -> Any:
    return Field(
        default=None if nullable else ...,
        sa_column=Column(DateTime(timezone=True), nullable=nullable),
    )


def _ints() -> Any:
    return Field(
        default_factory=list,
        sa_column=Column(ARRAY(Integer), nullable=False, server_default=text("'{}'")),
    )


def _strings() -> Any:
    return Field(
        default_factory=list,
        sa_column=Column(ARRAY(String(32)), nullable=False, server_default=text("'{}'")),
    )


class Campaign(SQLModel, table=True):
    """A bonus rule: what it gives (kind), to which orders (filters), within which limits.

    Empty filter lists match everything. `funder_unit_id` None: the group's marketing budget.
    """

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('MULTIPLIER', 'FIXED', 'THRESHOLD') AND spent >= 0"
            " AND (budget IS NULL OR spent <= budget)"
            " AND (per_member_cap IS NULL OR per_member_cap > 0)"
            " AND (ends_at IS NULL OR ends_at > starts_at)",
            name="ck_campaign_values",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=120)
    kind: str = Field(max_length=12)
    rate: Decimal | None = Field(default=None, sa_column=Column(Numeric(8, 4), nullable=True))
    points: int | None = Field(default=None)
    min_amount: Decimal | None = Field(
        default=None, sa_column=Column(Numeric(14, 2), nullable=True)
    )
    starts_at: datetime = _ts()
    ends_at: datetime | None = _ts(nullable=True)
    unit_ids: list[int] = _ints()
    merchant_ids: list[int] = _ints()
    categories: list[str] = _strings()
    tier_codes: list[str] = _strings()
    weekdays: list[int] = _ints()
    birthday_month: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false"))
    )
    budget: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    spent: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default=text("0"))
    )
    per_member_cap: int | None = Field(default=None)
    exclusive_group: str | None = Field(default=None, max_length=32)
    funder_unit_id: int | None = Field(default=None, foreign_key="business_units.id")
    created_by: str = Field(max_length=64)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    ended_at: datetime | None = _ts(nullable=True)


class CampaignMemberUsage(SQLModel, table=True):
    """Points one member has received from one campaign, net of refunds (per-member caps)."""

    __tablename__ = "campaign_member_usage"
    __table_args__ = (CheckConstraint("points >= 0", name="ck_campaign_usage_nonneg"),)

    campaign_id: int = Field(foreign_key="campaigns.id", primary_key=True)
    member_id: int = Field(foreign_key="members.id", primary_key=True, index=True)
    points: int = Field(default=0)
