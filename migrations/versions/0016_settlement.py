"""settlement: terms with effective dates (group-wide and per unit), closed periods with their
stored statements, funding models and pre-paid point blocks

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "settlement_terms",
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("clearing_price", sa.Numeric(12, 6), nullable=False),
        sa.Column("breakage_policy", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.CheckConstraint("clearing_price >= 0", name="ck_settlement_terms_price"),
        sa.CheckConstraint(
            "breakage_policy IN ('GROUP', 'FUNDERS')", name="ck_settlement_terms_breakage"
        ),
        sa.PrimaryKeyConstraint("effective_from"),
    )
    op.create_table(
        "settlement_unit_terms",
        sa.Column("business_unit_id", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("clearing_price", sa.Numeric(12, 6), nullable=True),
        sa.Column("billing_percentage", sa.Numeric(7, 4), nullable=True),
        sa.CheckConstraint(
            "clearing_price IS NULL OR clearing_price >= 0", name="ck_settlement_unit_price"
        ),
        sa.CheckConstraint(
            "billing_percentage IS NULL OR billing_percentage BETWEEN 0 AND 100",
            name="ck_settlement_unit_billing",
        ),
        sa.ForeignKeyConstraint(["business_unit_id"], ["business_units.id"]),
        sa.PrimaryKeyConstraint("business_unit_id", "effective_from"),
    )
    op.create_table(
        "settlement_periods",
        sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("statement", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("period"),
    )

    op.add_column(
        "business_units",
        sa.Column(
            "funding_model",
            sa.String(length=12),
            server_default=sa.text("'POST_PAID'"),
            nullable=False,
        ),
    )
    op.create_table(
        "point_blocks",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("business_unit_id", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(14, 2), nullable=False),
        sa.Column("bought_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.CheckConstraint(
            "remaining >= 0 AND remaining <= points", name="ck_point_block_remaining"
        ),
        sa.ForeignKeyConstraint(["business_unit_id"], ["business_units.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_point_blocks_open",
        "point_blocks",
        ["business_unit_id", "bought_at", "id"],
        postgresql_where=sa.text("remaining > 0"),
    )


def downgrade() -> None:
    op.drop_index("ix_point_blocks_open", table_name="point_blocks")
    op.drop_table("point_blocks")
    op.drop_column("business_units", "funding_model")
    op.drop_table("settlement_periods")
    op.drop_table("settlement_unit_terms")
    op.drop_table("settlement_terms")
