"""Members' wallets: each right issued to a member is one instance with its own voucher code."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Index
from sqlmodel import Field, SQLModel


class MemberRight(SQLModel, table=True):
    """One right in one member's wallet: its code, status, validity and how it came."""

    __tablename__ = "member_rights"
    __table_args__ = (
        Index("ix_member_rights_holding", "member_id", "right_id", "issued_at"),
        Index("ix_member_rights_member_status", "member_id", "status", "id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    member_id: int = Field(foreign_key="members.id")
    right_id: int = Field(sa_column=Column(BigInteger, ForeignKey("rights.id"), nullable=False))
    code: str = Field(max_length=16, unique=True)
    status: str = Field(max_length=10)  # ACTIVE, USED, EXPIRED, REVOKED
    source: str = Field(max_length=12)  # BOUGHT, TIER_GRANT, MALL_ORDER, LOTTERY, OPERATOR
    issued_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    valid_from: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    valid_until: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    points_spent: int = Field(default=0)
    transaction_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    used_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    used_at_unit_id: int | None = Field(default=None)
    used_order_ref: str | None = Field(default=None, max_length=64)
