"""Anti-abuse flags: a suspicious pattern seen at the tills, for operators to review."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, Index, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


class AbuseFlag(SQLModel, table=True):
    """One suspicion (velocity, refund loop, shared device) about a member and/or a device.

    `subject` names what the flag is about ("member:42", "device:POS-7", "member:42@unit:3");
    at most one flag per kind and subject is OPEN at a time (a partial unique index), so a
    pattern that repeats updates its open flag instead of adding a new one.
    """

    __tablename__ = "abuse_flags"
    __table_args__ = (
        Index(
            "uq_abuse_flags_open",
            "kind",
            "subject",
            unique=True,
            postgresql_where=text("status = 'OPEN'"),
        ),
        Index("ix_abuse_flags_status", "status", text("id DESC")),
        Index("ix_abuse_flags_member", "member_id", text("id DESC")),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    kind: str = Field(max_length=16)
    subject: str = Field(max_length=100)
    member_id: int | None = Field(default=None, foreign_key="members.id")
    device_id: str | None = Field(default=None, max_length=64)
    unit_id: int | None = Field(default=None, foreign_key="business_units.id")
    detail: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    status: str = Field(default="OPEN", max_length=12)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    reviewed_by: str | None = Field(default=None, max_length=64)
    reviewed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    review_note: str | None = Field(default=None, max_length=200)
