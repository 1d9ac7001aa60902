"""Settlement (结算通): the terms that price a period, and the periods closed with their stored
statements.

Terms have effective dates: a period is priced by the latest row whose `effective_from` is on
or before the period's first day. Group-wide terms (`SettlementTerms`) carry the clearing
price, the breakage policy and the estimated breakage rate; a unit's terms
(`SettlementUnitTerms`) override the clearing price for points redeemed at it and set the
billing percentage of the points it funds. A closed period
keeps its statement as it was computed at the close and never changes.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, Column, Date, DateTime, Index, Numeric, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


class SettlementTerms(SQLModel, table=True):
    """Group-wide terms from a date on: the clearing price of a point, the breakage policy."""

    __tablename__ = "settlement_terms"
    __table_args__ = (
        CheckConstraint("clearing_price >= 0", name="ck_settlement_terms_price"),
        CheckConstraint(
            "breakage_policy IN ('GROUP', 'FUNDERS')", name="ck_settlement_terms_breakage"
        ),
        CheckConstraint(
            "breakage_rate IS NULL OR (breakage_rate >= 0 AND breakage_rate < 1)",
            name="ck_settlement_terms_breakage_rate",
        ),
    )

    effective_from: date = Field(sa_column=Column(Date, primary_key=True))
    clearing_price: Decimal = Field(sa_column=Column(Numeric(12, 6), nullable=False))
    breakage_policy: str = Field(default="GROUP", max_length=8)
    # the share of points issued expected never to be redeemed; None: it cannot be estimated,
    # breakage is recognised on expiry
    breakage_rate: Decimal | None = Field(
        default=None, sa_column=Column(Numeric(5, 4), nullable=True)
    )


class SettlementUnitTerms(SQLModel, table=True):
    """One unit's terms from a date on: its clearing price as a redeemer (None: the group's)
    and its billing percentage as a funder (None: 100)."""

    __tablename__ = "settlement_unit_terms"
    __table_args__ = (
        CheckConstraint(
            "clearing_price IS NULL OR clearing_price >= 0", name="ck_settlement_unit_price"
        ),
        CheckConstraint(
            "billing_percentage IS NULL OR billing_percentage BETWEEN 0 AND 100",
            name="ck_settlement_unit_billing",
        ),
    )

    business_unit_id: int = Field(foreign_key="business_units.id", primary_key=True)
    effective_from: date = Field(sa_column=Column(Date, primary_key=True))
    clearing_price: Decimal | None = Field(
        default=None, sa_column=Column(Numeric(12, 6), nullable=True)
    )
    billing_percentage: Decimal | None = Field(
        default=None, sa_column=Column(Numeric(7, 4), nullable=True)
    )


class SettlementPeriod(SQLModel, table=True):
    """A closed period (`YYYY-MM`) and its statement as it was at the close."""

    __tablename__ = "settlement_periods"

    period: str = Field(max_length=7, primary_key=True)
    closed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    closed_by: str = Field(max_length=64)
    statement: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))


class PointBlock(SQLModel, table=True):
    """Points a pre-paid unit bought in advance; its earning draws them down, earliest first."""

    __tablename__ = "point_blocks"
    __table_args__ = (
        CheckConstraint("remaining >= 0 AND remaining <= points", name="ck_point_block_remaining"),
        Index(
            "ix_point_blocks_open",
            "business_unit_id",
            "bought_at",
            "id",
            postgresql_where=text("remaining > 0"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    business_unit_id: int = Field(foreign_key="business_units.id")
    points: int
    remaining: int
    amount: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    bought_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    recorded_by: str = Field(max_length=64)


class PointBlockDraw(SQLModel, table=True):
    """Points moved between a pre-paid unit's block and an earning: drawn by the earning
    (positive), returned by a refund of it (negative, to the blocks it was drawn from). The
    draws of an earning net per block are what a refund may give back, so returns are exact."""

    __tablename__ = "point_block_draws"
    __table_args__ = (CheckConstraint("points <> 0", name="ck_point_block_draw_points"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    block_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    # the earning the draw belongs to, and the transaction that moved the points (the
    # earning itself, or a refund of it)
    earn_transaction_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    transaction_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    points: int


class UnitFundingModel(SQLModel, table=True):
    """A unit's funding model from a date on (the group's calendar day): a statement reads the
    one in force on its period's first day, as it reads the terms."""

    __tablename__ = "unit_funding_models"
    __table_args__ = (
        CheckConstraint("model IN ('POST_PAID', 'PRE_PAID')", name="ck_unit_funding_model"),
    )

    business_unit_id: int = Field(foreign_key="business_units.id", primary_key=True)
    effective_from: date = Field(sa_column=Column(Date, primary_key=True))
    model: str = Field(max_length=12)
    recorded_by: str = Field(max_length=64)
