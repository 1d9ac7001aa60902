"""Revoking a partner key moves config_version, so every worker drops the keys it remembers

Workers remember authenticated partner keys for PARTNER_KEY_CACHE_SECONDS, each under the
configuration version they held (app.domain.access.partner_cache). A trigger moves the version
in the same transaction as any change of a key's `revoked_at` (or a key's deletion), whatever
writes it (`partner-key revoke`, SQL by hand), so a worker forgets its remembered keys as soon
as one of its units of work reads the new version.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # bump_config_version() is migration 0008's; statement-level, as for the other tables
    op.execute(
        "CREATE TRIGGER partner_keys_config_version "
        "AFTER UPDATE OF revoked_at OR DELETE OR TRUNCATE ON partner_keys "
        "FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER partner_keys_config_version ON partner_keys")
