"""figures: summary tables the refresh-figures job keeps from the ledger

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "figure_unit_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("business_unit_id", sa.Integer(), nullable=False),
        sa.Column("issued_points", sa.BigInteger(), nullable=False),
        sa.Column("issued_cost", sa.Numeric(20, 6), nullable=False),
        sa.Column("taken_back_points", sa.BigInteger(), nullable=False),
        sa.Column("taken_back_cost", sa.Numeric(20, 6), nullable=False),
        sa.Column("expired_points", sa.BigInteger(), nullable=False),
        sa.Column("redeemed_points", sa.BigInteger(), nullable=False),
        sa.Column("outstanding_change", sa.BigInteger(), nullable=False),
        sa.Column("outstanding_cost_change", sa.Numeric(20, 6), nullable=False),
        sa.Column("sales", sa.Numeric(16, 2), nullable=False),
        sa.PrimaryKeyConstraint("day", "business_unit_id"),
    )
    op.create_table(
        "figure_member_months",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("business_unit_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("transactions", sa.Integer(), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("spend", sa.Numeric(16, 2), nullable=False),
        sa.Column("last_visit_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("month", "business_unit_id", "member_id"),
    )
    op.create_index("ix_figure_member_months_member", "figure_member_months", ["member_id"])
    op.create_table(
        "figure_month_segments",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("segment", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "segment"),
    )
    op.create_table(
        "figure_month_overlap",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("unit_a", sa.Integer(), nullable=False),
        sa.Column("unit_b", sa.Integer(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "unit_a", "unit_b"),
    )
    op.create_table(
        "figure_period_active",
        sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
        sa.Column("business_unit_id", sa.Integer(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("period", "business_unit_id"),
    )
    op.create_table(
        "figure_refreshes",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("refreshed_through", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("figure_refreshes")
    op.drop_table("figure_period_active")
    op.drop_table("figure_month_overlap")
    op.drop_table("figure_month_segments")
    op.drop_index("ix_figure_member_months_member", table_name="figure_member_months")
    op.drop_table("figure_member_months")
    op.drop_table("figure_unit_days")
