"""rights: the catalogue of what each format offers members

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rights",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("provider_unit_id", sa.Integer(), nullable=False),
        sa.Column("face_value", sa.Numeric(12, 2), nullable=True),
        sa.Column("provider_cost", sa.Numeric(12, 2), nullable=True),
        sa.Column("points_price", sa.Integer(), nullable=True),
        sa.Column("stock_remaining", sa.Integer(), nullable=True),
        sa.Column("per_member_limit", sa.Integer(), nullable=True),
        sa.Column("limit_period", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("valid_days", sa.Integer(), nullable=False),
        sa.Column("window_starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("window_ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("eligible_tiers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("redeemable_unit_ids", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("refundable", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "valid_days > 0 AND (points_price IS NULL OR points_price > 0)"
            " AND (stock_remaining IS NULL OR stock_remaining >= 0)"
            " AND (per_member_limit IS NULL OR per_member_limit > 0)",
            name="ck_right_values",
        ),
        sa.ForeignKeyConstraint(["provider_unit_id"], ["business_units.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index("ix_rights_provider", "rights", ["provider_unit_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_rights_provider", table_name="rights")
    op.drop_table("rights")
