"""activity_rules and activity_events: points for check-ins, shares, referrals, birthdays

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "activity_rules",
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("daily_cap", sa.Integer(), nullable=True),
        sa.Column("lifetime_cap", sa.Integer(), nullable=True),
        sa.Column("streak_days", sa.Integer(), nullable=True),
        sa.Column("streak_bonus", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "points >= 0 AND (daily_cap IS NULL OR daily_cap > 0)"
            " AND (lifetime_cap IS NULL OR lifetime_cap > 0)"
            " AND (streak_days IS NULL OR streak_days > 1)"
            " AND (streak_bonus IS NULL OR streak_bonus >= 0)",
            name="ck_activity_rules_values",
        ),
        sa.PrimaryKeyConstraint("kind"),
    )
    op.create_table(
        "activity_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("dedupe_key", sqlmodel.sql.sqltypes.AutoString(length=110), nullable=True),
        sa.Column("streak", sa.Integer(), nullable=True),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("subject_member_id", sa.Integer(), nullable=True),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("caller", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"]),
        sa.ForeignKeyConstraint(["subject_member_id"], ["members.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_activity_events_once",
        "activity_events",
        ["member_id", "kind", "dedupe_key"],
        unique=True,
        postgresql_where=sa.text("dedupe_key IS NOT NULL"),
    )
    op.create_index(
        "ix_activity_events_member_day", "activity_events", ["member_id", "kind", "local_date"]
    )


def downgrade() -> None:
    op.drop_index("ix_activity_events_member_day", table_name="activity_events")
    op.drop_index("uq_activity_events_once", table_name="activity_events")
    op.drop_table("activity_events")
    op.drop_table("activity_rules")
