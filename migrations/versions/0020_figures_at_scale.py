"""figures at 1,000,000 members: a year's overlap kept by the refresh, and the referral cohorts
found by registration time

Revision ID: 0020
Revises: 0017
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # formatOverlap of a year, kept by refresh-figures as a month's is (figure_month_overlap):
    # computed from the member months it took seconds at 1,000,000 members.
    op.create_table(
        "figure_year_overlap",
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("unit_a", sa.Integer(), nullable=False),
        sa.Column("unit_b", sa.Integer(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", "unit_a", "unit_b"),
    )
    # referralStats reads a period's cohort (members registered then with a referrer): without
    # it a scan of every member. Partial, so members who came on their own cost it nothing;
    # written at registration only, never on the earn or spend path.
    op.create_index(
        "ix_members_referred_registered",
        "members",
        ["registered_at"],
        unique=False,
        postgresql_where=sa.text("referred_by_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_table("figure_year_overlap")
    op.drop_index(
        "ix_members_referred_registered",
        table_name="members",
        postgresql_where=sa.text("referred_by_id IS NOT NULL"),
    )
