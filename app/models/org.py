"""The group's organisation: business units (formats), their merchants, programme settings."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Column, Numeric, UniqueConstraint
from sqlmodel import Field, SQLModel


class BusinessUnit(SQLModel, table=True):
    """A format of the group (mall, hotel, ...) with its earning and spending rules."""

    __tablename__ = "business_units"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=120)
    kind: str = Field(max_length=16)
    earn_points_per_cny: Decimal = Field(sa_column=Column(Numeric(10, 4), nullable=False))
    pending_days: int = Field(default=0)
    point_value_cny: Decimal = Field(sa_column=Column(Numeric(12, 6), nullable=False))
    cost_per_point: Decimal = Field(sa_column=Column(Numeric(12, 6), nullable=False))
    spend_min_points: int = Field(default=1)
    spend_step: int = Field(default=1)
    spend_max_share: Decimal = Field(sa_column=Column(Numeric(5, 4), nullable=False))
    spend_daily_cap: int | None = Field(default=None)


class Merchant(SQLModel, table=True):
    """A tenant or outlet inside a business unit, optionally with its own earn rate."""

    __tablename__ = "merchants"
    __table_args__ = (UniqueConstraint("business_unit_id", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    business_unit_id: int = Field(foreign_key="business_units.id", index=True)
    code: str = Field(max_length=32)
    name: str = Field(max_length=120)
    category: str | None = Field(default=None, max_length=32)
    earn_points_per_cny: Decimal | None = Field(
        default=None, sa_column=Column(Numeric(10, 4), nullable=True)
    )


class CategoryRate(SQLModel, table=True):
    """An earn rate for one product category inside a business unit."""

    __tablename__ = "category_rates"

    business_unit_id: int = Field(foreign_key="business_units.id", primary_key=True)
    category: str = Field(max_length=32, primary_key=True)
    earn_points_per_cny: Decimal = Field(sa_column=Column(Numeric(10, 4), nullable=False))


class Program(SQLModel, table=True):
    """Programme-wide policies (one row): expiry, refunds of spent points, restore grace."""

    __tablename__ = "program"

    id: int = Field(default=1, primary_key=True)
    expiry_mode: str = Field(default="ROLLING", max_length=16)
    rolling_months: int = Field(default=12)
    refund_shortfall: str = Field(default="NEGATIVE", max_length=16)
    restore_grace_days: int = Field(default=30)
