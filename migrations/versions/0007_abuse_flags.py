"""abuse_flags: suspicious patterns (velocity, refund loops, shared devices) for review

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "abuse_flags",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_note", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"]),
        sa.ForeignKeyConstraint(["unit_id"], ["business_units.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_abuse_flags_open",
        "abuse_flags",
        ["kind", "subject"],
        unique=True,
        postgresql_where=sa.text("status = 'OPEN'"),
    )
    op.create_index("ix_abuse_flags_status", "abuse_flags", ["status", sa.text("id DESC")])
    op.create_index("ix_abuse_flags_member", "abuse_flags", ["member_id", sa.text("id DESC")])


def downgrade() -> None:
    op.drop_index("ix_abuse_flags_member", table_name="abuse_flags")
    op.drop_index("ix_abuse_flags_status", table_name="abuse_flags")
    op.drop_index("uq_abuse_flags_open", table_name="abuse_flags")
    op.drop_table("abuse_flags")
