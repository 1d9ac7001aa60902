"""Tiers: the ladder (Normal, Silver, ...), each member's standing, and the history of changes.

A member without a `member_tiers` row stands at the lowest tier with no end date. Every change
of standing (and every renewal at the end of a validity period) adds a `tier_history` row.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, Column, DateTime, Index, Numeric, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


class Tier(SQLModel, table=True):
    """One level of the ladder: thresholds on growth value and the benefits it carries."""

    __tablename__ = "tiers"
    __table_args__ = (
        CheckConstraint(
            "rank >= 0 AND retain_threshold >= 0 AND retain_threshold <= qualify_threshold"
            " AND earn_multiplier > 0 AND spend_value_bonus >= 0",
            name="ck_tier_values",
        ),
    )

    code: str = Field(max_length=32, primary_key=True)
    name: str = Field(max_length=60)
    rank: int = Field(unique=True)  # 0 = the lowest tier, which every member has at least
    qualify_threshold: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    retain_threshold: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    earn_multiplier: Decimal = Field(sa_column=Column(Numeric(6, 3), nullable=False))
    spend_value_bonus: Decimal = Field(sa_column=Column(Numeric(5, 4), nullable=False))
    discounts: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    benefits: list = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))


class MemberTier(SQLModel, table=True):
    """A member's current tier; `valid_until` is None for the lowest tier."""

    __tablename__ = "member_tiers"

    member_id: int = Field(foreign_key="members.id", primary_key=True)
    tier_code: str = Field(foreign_key="tiers.code", max_length=32)
    valid_until: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True, index=True)
    )
    since: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    manual: bool = Field(default=False)
    manual_reason: str | None = Field(default=None, max_length=200)


class TierHistory(SQLModel, table=True):
    """One change (or renewal) of a member's tier, with its reason and who or what made it."""

    __tablename__ = "tier_history"
    __table_args__ = (
        Index("ix_tier_history_member_id_id", "member_id", text("id DESC")),
        CheckConstraint("source IN ('AUTO', 'MANUAL', 'JOB')", name="ck_tier_history_source"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    member_id: int = Field(foreign_key="members.id")
    from_tier: str | None = Field(default=None, max_length=32)
    to_tier: str = Field(max_length=32)
    reason: str = Field(max_length=300)
    source: str = Field(max_length=8)  # AUTO (an order), MANUAL (an operator), JOB (validity end)
    actor: str = Field(max_length=64)
    valid_until: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
