"""Non-purchase earning: the rules per activity kind, and one row per activity rewarded."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, DateTime, Index, text
from sqlmodel import Field, SQLModel


class ActivityRule(SQLModel, table=True):
    """Points for one kind of activity and its caps (daily caps count local days)."""

    __tablename__ = "activity_rules"
    __table_args__ = (
        CheckConstraint(
            "points >= 0 AND (daily_cap IS NULL OR daily_cap > 0)"
            " AND (lifetime_cap IS NULL OR lifetime_cap > 0)"
            " AND (streak_days IS NULL OR streak_days > 1)"
            " AND (streak_bonus IS NULL OR streak_bonus >= 0)",
            name="ck_activity_rules_values",
        ),
    )

    kind: str = Field(max_length=16, primary_key=True)
    points: int
    daily_cap: int | None = Field(default=None)
    lifetime_cap: int | None = Field(default=None)
    streak_days: int | None = Field(default=None)
    streak_bonus: int | None = Field(default=None)
    active: bool = Field(default=True)
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class ActivityEvent(SQLModel, table=True):
    """One rewarded activity: its ledger entry, the local day, and the key that keeps it single
    (a check-in's date, a birthday's year, a referred member, a caller's reference)."""

    __tablename__ = "activity_events"
    __table_args__ = (
        Index(
            "uq_activity_events_once",
            "member_id",
            "kind",
            "dedupe_key",
            unique=True,
            postgresql_where=text("dedupe_key IS NOT NULL"),
        ),
        Index("ix_activity_events_member_day", "member_id", "kind", "local_date"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    member_id: int = Field(foreign_key="members.id")
    kind: str = Field(max_length=16)
    local_date: date
    dedupe_key: str | None = Field(default=None, max_length=110)
    streak: int | None = Field(default=None)
    points: int
    transaction_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    subject_member_id: int | None = Field(default=None, foreign_key="members.id")
    reference: str | None = Field(default=None, max_length=100)
    caller: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
