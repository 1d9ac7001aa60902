"""settlement: an estimated breakage rate in the group's terms, so breakage is recognised in
proportion to redemptions when it can be estimated (null: on expiry, as before)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("settlement_terms", sa.Column("breakage_rate", sa.Numeric(5, 4), nullable=True))
    op.create_check_constraint(
        "ck_settlement_terms_breakage_rate",
        "settlement_terms",
        "breakage_rate IS NULL OR (breakage_rate >= 0 AND breakage_rate < 1)",
    )


def downgrade() -> None:
    op.drop_constraint("ck_settlement_terms_breakage_rate", "settlement_terms", type_="check")
    op.drop_column("settlement_terms", "breakage_rate")
