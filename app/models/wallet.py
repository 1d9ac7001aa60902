"""Members' wallets: each right issued to a member is one instance with its own voucher code."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, DateTime, ForeignKey, Index, text
from sqlmodel import Field, SQLModel


class MemberRight(SQLModel, table=True):
    """One right in one member's wallet: its code, status, validity and how it came."""

    __tablename__ = "member_rights"
    __table_args__ = (
        Index("ix_member_rights_holding", "member_id", "right_id", "issued_at"),
        Index("ix_member_rights_member_status", "member_id", "status", "id"),
        # The expiry sweep reads only the active ones past their validity.
        Index(
            "ix_member_rights_active_until",
            "valid_until",
            postgresql_where=text("status = 'ACTIVE'"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    member_id: int = Field(foreign_key="members.id")
    right_id: int = Field(sa_column=Column(BigInteger, ForeignKey("rights.id"), nullable=False))
    code: str = Field(max_length=16, unique=True)
    status: str = Field(max_length=10)  # ACTIVE, USED, EXPIRED, REVOKED, REFUNDED
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
    # Revoked by an operator or refunded: when, by whom, why; a refund's ledger entry.
    ended_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    ended_by: str | None = Field(default=None, max_length=64)
    end_reason: str | None = Field(default=None, max_length=200)
    refund_transaction_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )
    # The mall order that issued it (a cancel revokes it, or is refused once it is used).
    mall_order_id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger, ForeignKey("mall_orders.id"), nullable=True, index=True),
    )


class VoucherWriteOff(SQLModel, table=True):
    """One write-off of a voucher at a till, and its undo if the unit took it back."""

    __tablename__ = "voucher_write_offs"
    __table_args__ = (
        Index("ix_voucher_write_offs_voucher", "member_right_id", "id"),
        Index("ix_voucher_write_offs_unit_at", "unit_id", "at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    member_right_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("member_rights.id"), nullable=False)
    )
    unit_id: int = Field(foreign_key="business_units.id")
    order_ref: str | None = Field(default=None, max_length=64)
    caller: str = Field(max_length=64)
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    undone_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    undone_by: str | None = Field(default=None, max_length=64)
    undo_reason: str | None = Field(default=None, max_length=200)


class TierRight(SQLModel, table=True):
    """A tier's recurring right: `quantity` of a right each month or each year."""

    __tablename__ = "tier_rights"
    __table_args__ = (
        CheckConstraint(
            "quantity > 0 AND period IN ('MONTH', 'YEAR')", name="ck_tier_right_values"
        ),
        Index("uq_tier_rights_tier_right", "tier_code", "right_id", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    tier_code: str = Field(max_length=20)
    right_id: int = Field(sa_column=Column(BigInteger, ForeignKey("rights.id"), nullable=False))
    quantity: int
    period: str = Field(max_length=10)  # MONTH, YEAR


class TierRightGrant(SQLModel, table=True):
    """That a member was given a tier right for one period: the key that makes granting once
    per member and period however often the job runs."""

    __tablename__ = "tier_right_grants"

    member_id: int = Field(foreign_key="members.id", primary_key=True)
    tier_right_id: int = Field(foreign_key="tier_rights.id", primary_key=True)
    period_key: str = Field(max_length=7, primary_key=True)  # 2026-12 or 2026
    granted_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
