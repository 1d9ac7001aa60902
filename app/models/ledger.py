"""The points ledger: journal transactions, postings, lots, allocations, balances, idempotency.

Postings of one transaction sum to zero. A lot's remaining equals its points minus the points
allocated from it (restorations are negative allocations). The balance row is the member's
running total, changed only under its row lock.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Column, DateTime, Index, Numeric, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


def _ts(nullable: bool = False) -> Any:
    return Field(
        default=None if nullable else ...,
        sa_column=Column(DateTime(timezone=True), nullable=nullable),
    )


class MemberBalance(SQLModel, table=True):
    """Running balance of one member; `available` is net of `debt` and may be negative."""

    __tablename__ = "member_balances"

    member_id: int = Field(foreign_key="members.id", primary_key=True)
    available: int = Field(default=0)
    pending: int = Field(default=0)
    debt: int = Field(default=0)
    __table_args__ = (CheckConstraint("pending >= 0 AND debt >= 0", name="ck_balance_nonneg"),)


class PointsTransaction(SQLModel, table=True):
    """One journal entry: why points moved, for whom, on whose request."""

    __tablename__ = "points_transactions"
    __table_args__ = (
        Index("ix_points_transactions_member_id_id", "member_id", text("id DESC")),
        Index("ix_points_transactions_reverses_id", "reverses_id"),
        # a settlement period's scan finds its month by time; BRIN, as the journal is written in
        # time order, and nearly free to keep on the hot path (docs/settlement.md, Scale)
        Index("ix_points_transactions_created_at", "created_at", postgresql_using="brin"),
        Index(
            "uq_points_transactions_order",
            "business_unit_id",
            "kind",
            "order_ref",
            unique=True,
            postgresql_where=text("kind IN ('EARN', 'SPEND') AND order_ref IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    member_id: int = Field(foreign_key="members.id")
    kind: str = Field(max_length=16)
    source: str = Field(max_length=16)
    rule: str = Field(default="", max_length=200)
    business_unit_id: int | None = Field(default=None, foreign_key="business_units.id")
    merchant_id: int | None = Field(default=None, foreign_key="merchants.id")
    order_ref: str | None = Field(default=None, max_length=64)
    category: str | None = Field(default=None, max_length=32)
    order_amount: Decimal | None = Field(
        default=None, sa_column=Column(Numeric(14, 2), nullable=True)
    )
    cny_value: Decimal | None = Field(default=None, sa_column=Column(Numeric(14, 2), nullable=True))
    points: int
    reverses_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    reason: str | None = Field(default=None, max_length=200)
    debt_change: int = Field(default=0)
    detail: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    caller: str = Field(max_length=64)
    caller_ref: str | None = Field(default=None, max_length=100)
    created_at: datetime = _ts()


class Posting(SQLModel, table=True):
    """One leg of a transaction on one account; a transaction's postings sum to zero."""

    __tablename__ = "postings"
    __table_args__ = (Index("ix_postings_account", "account_kind", "account_owner"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    transaction_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    account_kind: str = Field(max_length=24)
    account_owner: int = Field(sa_column=Column(BigInteger, nullable=False))
    points: int


class PointsLot(SQLModel, table=True):
    """Points earned together: who issued and funded them, at what cost, until when."""

    __tablename__ = "points_lots"
    __table_args__ = (
        Index(
            "ix_points_lots_open",
            "member_id",
            "expires_at",
            "id",
            postgresql_where=text("remaining > 0"),
        ),
        Index("ix_points_lots_expiring", "expires_at", postgresql_where=text("remaining > 0")),
        CheckConstraint("remaining >= 0 AND remaining <= points", name="ck_lot_remaining"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    member_id: int = Field(foreign_key="members.id")
    transaction_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    issuer_unit_id: int = Field(foreign_key="business_units.id")
    funder_unit_id: int | None = Field(default=None, foreign_key="business_units.id")
    cost_per_point: Decimal = Field(sa_column=Column(Numeric(12, 6), nullable=False))
    points: int
    remaining: int
    state: str = Field(max_length=12)
    earned_at: datetime = _ts()
    expires_at: datetime = _ts()
    pending_until: datetime | None = _ts(nullable=True)
    origin_lot_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    # The campaign whose bonus this lot holds (None: the order's own points); refunds give
    # what they take back from such a lot back to the campaign's budget and member cap.
    campaign_id: int | None = Field(default=None)


class LotAllocation(SQLModel, table=True):
    """Points taken from (or, negative, given back to) one lot by one transaction."""

    __tablename__ = "lot_allocations"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    transaction_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    lot_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    kind: str = Field(max_length=12)
    points: int
    cny_value: Decimal | None = Field(default=None, sa_column=Column(Numeric(14, 2), nullable=True))
    restores_allocation_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )


class IdempotencyKey(SQLModel, table=True):
    """First result of a (caller, key) request; the primary key makes replays single."""

    __tablename__ = "idempotency_keys"

    caller: str = Field(max_length=64, primary_key=True)
    key: str = Field(max_length=100, primary_key=True)
    operation: str = Field(max_length=40)
    fingerprint: str = Field(max_length=64)
    result: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    created_at: datetime = _ts()
