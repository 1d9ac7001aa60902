"""Partner API keys: minted once (shown once), stored as a SHA-256 hash, bound to one unit."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select

from app.domain.access.principals import SCOPES, Principal
from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.units import find_unit
from app.models import PartnerKey
from app.platform.uow import UnitOfWork

KEY_PREFIX = "bmg"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_partner_key(
    uow: UnitOfWork, *, business_unit: str | int, scopes: list[str], name: str = ""
) -> tuple[str, PartnerKey]:
    """A new key for `business_unit`; returns the plaintext (never stored) and its row."""
    wanted = sorted({s.strip() for s in scopes if s.strip()})
    unknown = [s for s in wanted if s not in SCOPES]
    if not wanted or unknown:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"scopes must be among {', '.join(SCOPES)}", "scopes"
        )
    unit = await find_unit(uow, business_unit)
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    plaintext = f"{KEY_PREFIX}_{prefix}_{secret}"
    row = PartnerKey(
        business_unit_id=unit.id,
        prefix=prefix,
        key_hash=_hash(plaintext),
        scopes=",".join(wanted),
        name=name or f"{unit.code} key",
        created_at=uow.now,
    )
    uow.session.add(row)
    await uow.session.flush()
    return plaintext, row


async def authenticate_partner_key(uow: UnitOfWork, plaintext: str) -> Principal | None:
    """The partner behind a presented key, or None for an unknown, malformed or revoked key."""
    parts = (plaintext or "").strip().split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    row = (
        await uow.session.scalars(select(PartnerKey).where(PartnerKey.prefix == parts[1]))
    ).first()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.key_hash, _hash(plaintext.strip())):
        return None
    return Principal(
        kind="partner",
        subject=str(row.id),
        unit_id=row.business_unit_id,
        scopes=frozenset(row.scopes.split(",")),
    )
