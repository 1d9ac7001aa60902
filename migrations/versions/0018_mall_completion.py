"""mall completion: when an order completed and by whom; lottery prizes retired by a new odds
table

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "mall_orders", sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("mall_orders", sa.Column("completed_by", sa.String(length=64), nullable=True))
    # The complete-mall-orders job reads only the shipped gifts (by shipping time) and the
    # fulfilled voucher orders.
    op.create_index(
        "ix_mall_orders_shipped",
        "mall_orders",
        ["shipped_at"],
        postgresql_where=sa.text("status = 'SHIPPED'"),
    )
    op.create_index(
        "ix_mall_orders_fulfilled",
        "mall_orders",
        ["id"],
        postgresql_where=sa.text("status = 'FULFILLED'"),
    )
    op.add_column(
        "lottery_prizes",
        sa.Column("retired", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("lottery_prizes", "retired")
    op.drop_index("ix_mall_orders_fulfilled", table_name="mall_orders")
    op.drop_index("ix_mall_orders_shipped", table_name="mall_orders")
    op.drop_column("mall_orders", "completed_by")
    op.drop_column("mall_orders", "completed_at")
