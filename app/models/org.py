"""The group's organisation: business units (formats), their merchants, programme settings."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Numeric,
    String,
    UniqueConstraint,
    text,
)
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
    growth_weight: Decimal = Field(
        default=Decimal(1),
        sa_column=Column(Numeric(6, 3), nullable=False, server_default=text("1")),
    )
    # POST_PAID: billed each settlement period; PRE_PAID: earns only from point blocks bought
    # in advance (app.domain.settlement.funding). Read with the units' configuration, so an
    # earn of a post-paid unit checks it without a statement.
    funding_model: str = Field(
        default="POST_PAID",
        sa_column=Column(String(12), nullable=False, server_default=text("'POST_PAID'")),
    )


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
    """Programme-wide policies (one row): expiry, refunds of spent points, restore grace, tiers.

    Tiers: growth value is measured on `tier_basis` (SPEND: CNY weighted per unit, POINTS: points
    earned, VISITS: orders); a tier reached is valid `tier_validity_months`; at the end a member
    below the retention threshold drops per `downgrade_policy` (ONE_LEVEL or TO_WINDOW).
    """

    __tablename__ = "program"
    __table_args__ = (
        CheckConstraint(
            "tier_basis IN ('SPEND', 'POINTS', 'VISITS')"
            " AND downgrade_policy IN ('ONE_LEVEL', 'TO_WINDOW') AND tier_validity_months > 0",
            name="ck_program_tiers",
        ),
    )

    id: int = Field(default=1, primary_key=True)
    expiry_mode: str = Field(default="ROLLING", max_length=16)
    rolling_months: int = Field(default=12)
    refund_shortfall: str = Field(default="NEGATIVE", max_length=16)
    restore_grace_days: int = Field(default=30)
    tier_basis: str = Field(
        default="SPEND", max_length=8, sa_column_kwargs={"server_default": "SPEND"}
    )
    tier_validity_months: int = Field(default=12, sa_column_kwargs={"server_default": "12"})
    downgrade_policy: str = Field(
        default="ONE_LEVEL", max_length=12, sa_column_kwargs={"server_default": "ONE_LEVEL"}
    )


class ConfigVersion(SQLModel, table=True):
    """One row that every change to the configuration the hot paths read (business units,
    programme, tiers, campaign definitions) moves on, in the change's own transaction: set by
    triggers (migration 0008), so no writer can forget it. `generation` is new whenever the row
    is (a new database, a TRUNCATE), `version` never repeats (a sequence), so a worker holding
    the configuration of one (generation, version) knows it is current when it reads the same.
    """

    __tablename__ = "config_version"

    id: int = Field(default=1, primary_key=True)
    generation: str = Field(
        max_length=36, sa_column_kwargs={"server_default": text("gen_random_uuid()::text")}
    )
    version: int = Field(sa_column=Column(BigInteger, nullable=False))
