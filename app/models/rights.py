"""Rights (权益): what a format offers members — lounge passes, parking hours, services,
coupons, tickets — granted by tier, bought with points, written off by the provider."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, Column, DateTime, Index, Numeric
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


class Right(SQLModel, table=True):
    """One right in the catalogue, offered by its provider unit."""

    __tablename__ = "rights"
    __table_args__ = (
        CheckConstraint(
            "valid_days > 0 AND (points_price IS NULL OR points_price > 0)"
            " AND (stock_remaining IS NULL OR stock_remaining >= 0)"
            " AND (per_member_limit IS NULL OR per_member_limit > 0)",
            name="ck_right_values",
        ),
        Index("ix_rights_provider", "provider_unit_id", "id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=80)
    kind: str = Field(max_length=20)
    provider_unit_id: int = Field(foreign_key="business_units.id")
    face_value: Decimal | None = Field(default=None, sa_column=Column(Numeric(12, 2)))
    provider_cost: Decimal | None = Field(default=None, sa_column=Column(Numeric(12, 2)))
    points_price: int | None = Field(default=None)  # None: not for sale
    stock_remaining: int | None = Field(default=None)  # None: unlimited
    per_member_limit: int | None = Field(default=None)  # None: no limit
    limit_period: str = Field(default="LIFETIME", max_length=10)  # LIFETIME, MONTH, YEAR
    valid_days: int
    # A fixed window instead of (or narrowing) `valid_days` after issue, when set.
    window_starts_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    window_ends_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    eligible_tiers: list = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    # Units besides the provider that may write it off.
    redeemable_unit_ids: list = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    refundable: bool = Field(default=False)
    active: bool = Field(default=True)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
