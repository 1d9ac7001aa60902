"""The points mall (积分商城): its catalogue, members' orders, and the lottery with its draws."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Numeric,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


class MallItem(SQLModel, table=True):
    """One item on the mall's shelf, supplied (shipped, or its rights provided) by one unit."""

    __tablename__ = "mall_items"
    __table_args__ = (
        CheckConstraint(
            "points_price >= 0 AND cash_price >= 0 AND (points_price > 0 OR cash_price > 0)"
            " AND (stock_remaining IS NULL OR stock_remaining >= 0)"
            " AND (per_member_limit IS NULL OR per_member_limit > 0)",
            name="ck_mall_item_values",
        ),
        Index("ix_mall_items_kind", "kind", "id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    name: str = Field(max_length=80)
    description: str | None = Field(default=None, max_length=500)
    kind: str = Field(max_length=15)  # PHYSICAL, VOUCHER, RIGHT_PACKAGE
    supplier_unit_id: int = Field(foreign_key="business_units.id")
    points_price: int
    cash_price: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))
    stock_remaining: int | None = Field(default=None)  # None: unlimited
    per_member_limit: int | None = Field(default=None)  # None: no limit
    sale_starts_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    sale_ends_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    tier_only_code: str | None = Field(default=None, max_length=20)
    # What a VOUCHER (one) or RIGHT_PACKAGE (several) issues per unit ordered: right ids.
    right_ids: list = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    flash_sale: bool = Field(default=False)  # a rush is expected: the Redis gate admits first
    active: bool = Field(default=True)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class MallOrder(SQLModel, table=True):
    """One member's order of one item: what it cost, its payment, shipment or cancellation."""

    __tablename__ = "mall_orders"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="ck_mall_order_quantity"),
        Index("ix_mall_orders_member", "member_id", "id"),
        Index("ix_mall_orders_member_item", "member_id", "item_id"),
        # The expiry job reads only the unpaid ones, by deadline.
        Index(
            "ix_mall_orders_unpaid",
            "pay_by",
            postgresql_where=text("status = 'AWAITING_PAYMENT'"),
        ),
        # The complete-mall-orders job reads the shipped gifts by shipping time, and the
        # fulfilled voucher orders.
        Index("ix_mall_orders_shipped", "shipped_at", postgresql_where=text("status = 'SHIPPED'")),
        Index("ix_mall_orders_fulfilled", "id", postgresql_where=text("status = 'FULFILLED'")),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    member_id: int = Field(foreign_key="members.id")
    item_id: int = Field(sa_column=Column(BigInteger, ForeignKey("mall_items.id"), nullable=False))
    quantity: int
    status: str = Field(max_length=20)
    points_spent: int = Field(default=0)
    cash_due: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))
    transaction_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    delivery_address: str | None = Field(default=None, max_length=300)
    pay_by: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    payment_ref: str | None = Field(default=None, max_length=64)
    paid_amount: Decimal | None = Field(default=None, sa_column=Column(Numeric(12, 2)))
    paid_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    carrier: str | None = Field(default=None, max_length=40)
    tracking_number: str | None = Field(default=None, max_length=64)
    shipped_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    ended_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    ended_by: str | None = Field(default=None, max_length=64)
    end_reason: str | None = Field(default=None, max_length=200)
    refund_transaction_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )
    cash_refund_due: Decimal | None = Field(default=None, sa_column=Column(Numeric(12, 2)))
    completed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    completed_by: str | None = Field(default=None, max_length=64)  # the member, ops or the job
    caller: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class Lottery(SQLModel, table=True):
    """A points lottery: what a draw costs, how many a member may draw a day, the odds table's
    current version (each version's table is kept in `lottery_odds`)."""

    __tablename__ = "lotteries"
    __table_args__ = (
        CheckConstraint("cost_points > 0 AND daily_limit > 0", name="ck_lottery_values"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    name: str = Field(max_length=80)
    cost_points: int
    daily_limit: int
    odds_version: int = Field(default=1)
    active: bool = Field(default=True)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class LotteryPrize(SQLModel, table=True):
    """One prize of a lottery: its published chance in parts per million, what it gives (a right,
    or points from the group's marketing budget), its stock and points budget."""

    __tablename__ = "lottery_prizes"
    __table_args__ = (
        CheckConstraint(
            "chance_ppm >= 0 AND chance_ppm <= 1000000"
            " AND (stock_remaining IS NULL OR stock_remaining >= 0)"
            " AND (budget_points IS NULL OR budget_points >= 0) AND points >= 0",
            name="ck_lottery_prize_values",
        ),
        Index("ix_lottery_prizes_lottery", "lottery_id", "position"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    lottery_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("lotteries.id"), nullable=False)
    )
    position: int
    name: str = Field(max_length=80)
    chance_ppm: int
    right_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, ForeignKey("rights.id"), nullable=True)
    )
    points: int = Field(default=0)
    stock_remaining: int | None = Field(default=None)  # None: unlimited
    budget_points: int | None = Field(default=None)  # points prizes: what is left to give
    fallback: bool = Field(default=False)  # what a draw gives when its prize has run out
    # Left out of a newer odds table: no longer drawn or shown; kept for the draws that gave it.
    retired: bool = Field(default=False)


class LotteryOdds(SQLModel, table=True):
    """One published version of a lottery's odds table, as draws under it used it."""

    __tablename__ = "lottery_odds"

    lottery_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("lotteries.id"), primary_key=True)
    )
    version: int = Field(primary_key=True)
    odds: list = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    published_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class LotteryDraw(SQLModel, table=True):
    """One draw: who, when, under which odds version, the roll, what it gave."""

    __tablename__ = "lottery_draws"
    __table_args__ = (Index("ix_lottery_draws_member_day", "member_id", "lottery_id", "local_day"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    lottery_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("lotteries.id"), nullable=False)
    )
    member_id: int = Field(foreign_key="members.id")
    odds_version: int
    roll: int  # 0 <= roll < 1,000,000, from `secrets`
    rolled_prize_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    prize_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    won: bool
    member_right_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    cost_transaction_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    prize_transaction_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )
    local_day: date = Field(sa_column=Column(Date, nullable=False))
    drawn_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
