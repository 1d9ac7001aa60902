"""the points mall: items, orders (vouchers they issue name them), lotteries, odds, draws

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lotteries",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("cost_points", sa.Integer(), nullable=False),
        sa.Column("daily_limit", sa.Integer(), nullable=False),
        sa.Column("odds_version", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("cost_points > 0 AND daily_limit > 0", name="ck_lottery_values"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "lottery_odds",
        sa.Column("lottery_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("odds", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lottery_id"],
            ["lotteries.id"],
        ),
        sa.PrimaryKeyConstraint("lottery_id", "version"),
    )
    op.create_table(
        "mall_items",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=15), nullable=False),
        sa.Column("supplier_unit_id", sa.Integer(), nullable=False),
        sa.Column("points_price", sa.Integer(), nullable=False),
        sa.Column("cash_price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("stock_remaining", sa.Integer(), nullable=True),
        sa.Column("per_member_limit", sa.Integer(), nullable=True),
        sa.Column("sale_starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sale_ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tier_only_code", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("right_ids", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("flash_sale", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "points_price >= 0 AND cash_price >= 0 AND (points_price > 0 OR cash_price > 0) AND (stock_remaining IS NULL OR stock_remaining >= 0) AND (per_member_limit IS NULL OR per_member_limit > 0)",
            name="ck_mall_item_values",
        ),
        sa.ForeignKeyConstraint(
            ["supplier_unit_id"],
            ["business_units.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_mall_items_kind", "mall_items", ["kind", "id"], unique=False)
    op.create_table(
        "lottery_draws",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("lottery_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("odds_version", sa.Integer(), nullable=False),
        sa.Column("roll", sa.Integer(), nullable=False),
        sa.Column("rolled_prize_id", sa.BigInteger(), nullable=True),
        sa.Column("prize_id", sa.BigInteger(), nullable=True),
        sa.Column("won", sa.Boolean(), nullable=False),
        sa.Column("member_right_id", sa.BigInteger(), nullable=True),
        sa.Column("cost_transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("prize_transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("local_day", sa.Date(), nullable=False),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lottery_id"],
            ["lotteries.id"],
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_lottery_draws_member_day",
        "lottery_draws",
        ["member_id", "lottery_id", "local_day"],
        unique=False,
    )
    op.create_table(
        "lottery_prizes",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("lottery_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("chance_ppm", sa.Integer(), nullable=False),
        sa.Column("right_id", sa.BigInteger(), nullable=True),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("stock_remaining", sa.Integer(), nullable=True),
        sa.Column("budget_points", sa.Integer(), nullable=True),
        sa.Column("fallback", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "chance_ppm >= 0 AND chance_ppm <= 1000000 AND (stock_remaining IS NULL OR stock_remaining >= 0) AND (budget_points IS NULL OR budget_points >= 0) AND points >= 0",
            name="ck_lottery_prize_values",
        ),
        sa.ForeignKeyConstraint(
            ["lottery_id"],
            ["lotteries.id"],
        ),
        sa.ForeignKeyConstraint(
            ["right_id"],
            ["rights.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_lottery_prizes_lottery", "lottery_prizes", ["lottery_id", "position"], unique=False
    )
    op.create_table(
        "mall_orders",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("points_spent", sa.Integer(), nullable=False),
        sa.Column("cash_due", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("delivery_address", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("pay_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payment_ref", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("paid_amount", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("carrier", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("tracking_number", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("end_reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("refund_transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("cash_refund_due", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("caller", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity > 0", name="ck_mall_order_quantity"),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["mall_items.id"],
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_mall_orders_member", "mall_orders", ["member_id", "id"], unique=False)
    op.create_index(
        "ix_mall_orders_member_item", "mall_orders", ["member_id", "item_id"], unique=False
    )
    op.create_index(
        "ix_mall_orders_unpaid",
        "mall_orders",
        ["pay_by"],
        unique=False,
        postgresql_where=sa.text("status = 'AWAITING_PAYMENT'"),
    )
    op.add_column("member_rights", sa.Column("mall_order_id", sa.BigInteger(), nullable=True))
    op.create_index(
        op.f("ix_member_rights_mall_order_id"), "member_rights", ["mall_order_id"], unique=False
    )
    op.create_foreign_key(
        "fk_member_rights_mall_order", "member_rights", "mall_orders", ["mall_order_id"], ["id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_member_rights_mall_order_id"), table_name="member_rights")
    op.drop_column("member_rights", "mall_order_id")
    op.drop_index(
        "ix_mall_orders_unpaid",
        table_name="mall_orders",
        postgresql_where=sa.text("status = 'AWAITING_PAYMENT'"),
    )
    op.drop_index("ix_mall_orders_member_item", table_name="mall_orders")
    op.drop_index("ix_mall_orders_member", table_name="mall_orders")
    op.drop_table("mall_orders")
    op.drop_index("ix_lottery_prizes_lottery", table_name="lottery_prizes")
    op.drop_table("lottery_prizes")
    op.drop_index("ix_lottery_draws_member_day", table_name="lottery_draws")
    op.drop_table("lottery_draws")
    op.drop_index("ix_mall_items_kind", table_name="mall_items")
    op.drop_table("mall_items")
    op.drop_table("lottery_odds")
    op.drop_table("lotteries")
