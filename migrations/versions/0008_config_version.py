"""config_version: one row every change of hot-path configuration moves on (by triggers)

Workers keep business units, the programme, tiers and campaign definitions in memory and check
this row once per transaction. Triggers raise it in the same transaction as any INSERT, UPDATE,
DELETE or TRUNCATE of those tables (for campaigns, any UPDATE but one of `spent` alone, which
earns keep under the campaign's lock), so no code path can change configuration unseen.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("business_units", "program", "tiers", "campaigns")

BUMP = """CREATE FUNCTION bump_config_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO config_version (id, version) VALUES (1, nextval('config_version_seq'))
    ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version;
    RETURN NULL;
END $$"""


def upgrade() -> None:
    op.create_table(
        "config_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "generation",
            sa.String(length=36),
            server_default=sa.text("gen_random_uuid()::text"),
            nullable=False,
        ),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("CREATE SEQUENCE config_version_seq")
    op.execute("INSERT INTO config_version (id, version) VALUES (1, nextval('config_version_seq'))")
    op.execute(BUMP)
    for table in TABLES:
        events = (
            "INSERT OR DELETE OR TRUNCATE"
            if table == "campaigns"
            else ("INSERT OR UPDATE OR DELETE OR TRUNCATE")
        )
        op.execute(
            f"CREATE TRIGGER {table}_config_version AFTER {events} ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version()"
        )
    # an earn raising `spent` under the campaign's lock is not a change of definition
    op.execute(
        "CREATE TRIGGER campaigns_config_version_update AFTER UPDATE ON campaigns FOR EACH ROW "
        "WHEN ((to_jsonb(OLD) - 'spent') IS DISTINCT FROM (to_jsonb(NEW) - 'spent')) "
        "EXECUTE FUNCTION bump_config_version()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER campaigns_config_version_update ON campaigns")
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_config_version ON {table}")
    op.execute("DROP FUNCTION bump_config_version()")
    op.execute("DROP SEQUENCE config_version_seq")
    op.drop_table("config_version")
