"""settlement: the draws of pre-paid point blocks (so a refund returns points to the blocks
they came from), the funding models' history with effective dates, and a BRIN index on the
journal's time for a period's scan

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "point_block_draws",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("block_id", sa.BigInteger(), nullable=False),
        sa.Column("earn_transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.CheckConstraint("points <> 0", name="ck_point_block_draw_points"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_point_block_draws_block_id", "point_block_draws", ["block_id"])
    op.create_index(
        "ix_point_block_draws_earn_transaction_id", "point_block_draws", ["earn_transaction_id"]
    )
    op.create_table(
        "unit_funding_models",
        sa.Column("business_unit_id", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("recorded_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.CheckConstraint("model IN ('POST_PAID', 'PRE_PAID')", name="ck_unit_funding_model"),
        sa.ForeignKeyConstraint(["business_unit_id"], ["business_units.id"]),
        sa.PrimaryKeyConstraint("business_unit_id", "effective_from"),
    )
    # A pre-paid unit's model had no date before: it has been in force as long as is known.
    op.execute(
        "INSERT INTO unit_funding_models (business_unit_id, effective_from, model, recorded_by)"
        " SELECT id, DATE '2000-01-01', funding_model, 'migration:0019' FROM business_units"
        " WHERE funding_model <> 'POST_PAID'"
    )
    op.create_index(
        "ix_points_transactions_created_at",
        "points_transactions",
        ["created_at"],
        postgresql_using="brin",
    )


def downgrade() -> None:
    op.drop_index("ix_points_transactions_created_at", table_name="points_transactions")
    op.drop_table("unit_funding_models")
    op.drop_index("ix_point_block_draws_earn_transaction_id", table_name="point_block_draws")
    op.drop_index("ix_point_block_draws_block_id", table_name="point_block_draws")
    op.drop_table("point_block_draws")
