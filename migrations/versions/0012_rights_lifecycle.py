"""rights' lifecycle: write-offs and their undo, revoke and refund, tier rights and their grants

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("member_rights", sa.Column("ended_at", sa.DateTime(timezone=True)))
    op.add_column(
        "member_rights", sa.Column("ended_by", sqlmodel.sql.sqltypes.AutoString(length=64))
    )
    op.add_column(
        "member_rights", sa.Column("end_reason", sqlmodel.sql.sqltypes.AutoString(length=200))
    )
    op.add_column("member_rights", sa.Column("refund_transaction_id", sa.BigInteger()))
    op.create_index(
        "ix_member_rights_active_until",
        "member_rights",
        ["valid_until"],
        postgresql_where=sa.text("status = 'ACTIVE'"),
    )
    op.create_table(
        "voucher_write_offs",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("member_right_id", sa.BigInteger(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("order_ref", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("caller", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("undone_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("undo_reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.ForeignKeyConstraint(["member_right_id"], ["member_rights.id"]),
        sa.ForeignKeyConstraint(["unit_id"], ["business_units.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_voucher_write_offs_voucher", "voucher_write_offs", ["member_right_id", "id"]
    )
    op.create_index("ix_voucher_write_offs_unit_at", "voucher_write_offs", ["unit_id", "at"])
    op.create_table(
        "tier_rights",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tier_code", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("right_id", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.CheckConstraint(
            "quantity > 0 AND period IN ('MONTH', 'YEAR')", name="ck_tier_right_values"
        ),
        sa.ForeignKeyConstraint(["right_id"], ["rights.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_tier_rights_tier_right", "tier_rights", ["tier_code", "right_id"], unique=True
    )
    op.create_table(
        "tier_right_grants",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("tier_right_id", sa.Integer(), nullable=False),
        sa.Column("period_key", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"]),
        sa.ForeignKeyConstraint(["tier_right_id"], ["tier_rights.id"]),
        sa.PrimaryKeyConstraint("member_id", "tier_right_id", "period_key"),
    )


def downgrade() -> None:
    op.drop_table("tier_right_grants")
    op.drop_index("uq_tier_rights_tier_right", table_name="tier_rights")
    op.drop_table("tier_rights")
    op.drop_index("ix_voucher_write_offs_unit_at", table_name="voucher_write_offs")
    op.drop_index("ix_voucher_write_offs_voucher", table_name="voucher_write_offs")
    op.drop_table("voucher_write_offs")
    op.drop_index("ix_member_rights_active_until", table_name="member_rights")
    for column in ("refund_transaction_id", "end_reason", "ended_by", "ended_at"):
        op.drop_column("member_rights", column)
