"""campaigns: bonus rules, per-member usage, the campaign of a lot

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("rate", sa.Numeric(precision=8, scale=4), nullable=True),
        sa.Column("points", sa.Integer(), nullable=True),
        sa.Column("min_amount", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unit_ids", postgresql.ARRAY(sa.Integer()), server_default="{}", nullable=False),
        sa.Column(
            "merchant_ids", postgresql.ARRAY(sa.Integer()), server_default="{}", nullable=False
        ),
        sa.Column(
            "categories", postgresql.ARRAY(sa.String(32)), server_default="{}", nullable=False
        ),
        sa.Column(
            "tier_codes", postgresql.ARRAY(sa.String(32)), server_default="{}", nullable=False
        ),
        sa.Column("weekdays", postgresql.ARRAY(sa.Integer()), server_default="{}", nullable=False),
        sa.Column("birthday_month", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("budget", sa.BigInteger(), nullable=True),
        sa.Column("spent", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("per_member_cap", sa.Integer(), nullable=True),
        sa.Column("exclusive_group", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("funder_unit_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('MULTIPLIER', 'FIXED', 'THRESHOLD') AND spent >= 0"
            " AND (budget IS NULL OR spent <= budget)"
            " AND (per_member_cap IS NULL OR per_member_cap > 0)"
            " AND (ends_at IS NULL OR ends_at > starts_at)",
            name="ck_campaign_values",
        ),
        sa.ForeignKeyConstraint(["funder_unit_id"], ["business_units.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "campaign_member_usage",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.CheckConstraint("points >= 0", name="ck_campaign_usage_nonneg"),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"]),
        sa.PrimaryKeyConstraint("campaign_id", "member_id"),
    )
    op.create_index(
        op.f("ix_campaign_member_usage_member_id"), "campaign_member_usage", ["member_id"]
    )
    op.add_column("points_lots", sa.Column("campaign_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("points_lots", "campaign_id")
    op.drop_index(op.f("ix_campaign_member_usage_member_id"), table_name="campaign_member_usage")
    op.drop_table("campaign_member_usage")
    op.drop_table("campaigns")
