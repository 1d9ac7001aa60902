"""Summary tables of the figures (app.domain.figures): rebuilt from the ledger by the
`refresh-figures` job, never written by a request. Each row is a recomputable aggregate.

- `figure_unit_days`: per local day (group time zone) and unit, what the ledger did: points
  issued and taken back (and their cost), expired, redeemed, the change of outstanding points
  (and of their cost), and sales through the programme. Unit 0 is the group's own account.
- `figure_member_months`: per local month, member and unit, the member's activity there:
  transactions, visits (distinct days with an order), spend and the last visit.
- `figure_month_segments` / `figure_month_overlap`: per local month, the RFM segments of the
  12 months ending with it and the members active at both units of each pair that month, as
  `memberSegments` / `formatOverlap` compute them, kept by the refresh so that they are read,
  not computed, for a month; `figure_year_overlap`: the same overlap for each year the
  refresh rebuilt a month of; `figure_period_active`: the active members of each month and
  year the refresh rebuilt, per unit and (unit 0) in all.
- `figure_refreshes`: how far the tables are filled (`refreshed_through`, exclusive) and the
  last transaction id they have seen.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Column, Date, DateTime, Index, Integer, Numeric
from sqlmodel import Field, SQLModel


class FigureUnitDay(SQLModel, table=True):
    __tablename__ = "figure_unit_days"

    day: date = Field(sa_column=Column(Date, primary_key=True))
    business_unit_id: int = Field(sa_column=Column(Integer, primary_key=True))
    issued_points: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    issued_cost: Decimal = Field(sa_column=Column(Numeric(20, 6), nullable=False))
    taken_back_points: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    taken_back_cost: Decimal = Field(sa_column=Column(Numeric(20, 6), nullable=False))
    expired_points: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    redeemed_points: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    outstanding_change: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    outstanding_cost_change: Decimal = Field(sa_column=Column(Numeric(20, 6), nullable=False))
    sales: Decimal = Field(sa_column=Column(Numeric(16, 2), nullable=False))


class FigureMemberMonth(SQLModel, table=True):
    __tablename__ = "figure_member_months"
    __table_args__ = (Index("ix_figure_member_months_member", "member_id"),)

    month: date = Field(sa_column=Column(Date, primary_key=True))
    business_unit_id: int = Field(sa_column=Column(Integer, primary_key=True))
    member_id: int = Field(sa_column=Column(Integer, primary_key=True))
    transactions: int = Field(default=0)
    visits: int = Field(default=0)
    spend: Decimal = Field(sa_column=Column(Numeric(16, 2), nullable=False))
    last_visit_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class FigureMonthSegment(SQLModel, table=True):
    __tablename__ = "figure_month_segments"

    month: date = Field(sa_column=Column(Date, primary_key=True))
    segment: str = Field(primary_key=True, max_length=24)
    members: int = Field(default=0)


class FigureMonthOverlap(SQLModel, table=True):
    __tablename__ = "figure_month_overlap"

    month: date = Field(sa_column=Column(Date, primary_key=True))
    unit_a: int = Field(sa_column=Column(Integer, primary_key=True))
    unit_b: int = Field(sa_column=Column(Integer, primary_key=True))
    members: int = Field(default=0)


class FigureYearOverlap(SQLModel, table=True):
    """A year's overlap: the members active at both units of each pair in the local year."""

    __tablename__ = "figure_year_overlap"

    year: int = Field(sa_column=Column(Integer, primary_key=True))
    unit_a: int = Field(sa_column=Column(Integer, primary_key=True))
    unit_b: int = Field(sa_column=Column(Integer, primary_key=True))
    members: int = Field(default=0)


class FigurePeriodActive(SQLModel, table=True):
    """Active members of a period ("2026-06" or "2026") at a unit, or (unit 0) at any unit."""

    __tablename__ = "figure_period_active"

    period: str = Field(primary_key=True, max_length=7)
    business_unit_id: int = Field(sa_column=Column(Integer, primary_key=True))
    members: int = Field(default=0)


class FigureRefresh(SQLModel, table=True):
    __tablename__ = "figure_refreshes"

    name: str = Field(primary_key=True, max_length=32)
    refreshed_through: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    last_transaction_id: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    refreshed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
