"""Partner API keys: minted once (shown once), stored as a SHA-256 hash, bound to one unit.

A key is revoked (never deleted: the audit trail and old requests' logs still name it) by its
id or its prefix, the part after `bmg_` that `partner-key list` shows; revoking is audited once
(`partnerKey.revoke`) and revoking a revoked key changes nothing. A worker stops honouring a
revoked key within PARTNER_KEY_CACHE_SECONDS (app.domain.access.partner_cache).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select

from app.domain.access.principals import SCOPES, Principal
from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.operator_log import log_operator_action, operator_reason
from app.domain.shared.units import find_unit, list_units
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


async def find_partner_key(uow: UnitOfWork, key: str | int, *, lock: bool = False) -> PartnerKey:
    """The key named by its prefix (as `list` shows it, with or without `bmg_`, or the whole
    plaintext) or its id; NOT_FOUND otherwise."""
    text = str(key).strip()
    parts = text.split("_", 2)
    prefix = parts[1] if len(parts) >= 2 and parts[0] == KEY_PREFIX else text
    query = select(PartnerKey).where(PartnerKey.prefix == prefix)
    if text.isdigit():  # an id; a prefix is 12 hex digits, so an all-digit one is tried first
        query = select(PartnerKey).where(
            (PartnerKey.prefix == prefix) | (PartnerKey.id == int(text))  # type: ignore[arg-type]
        )
    if lock:
        query = query.with_for_update()
    rows = sorted(await uow.session.scalars(query), key=lambda row: row.prefix != prefix)
    if not text or not rows:
        raise DomainError(ErrorCode.NOT_FOUND, f"no partner key {text!r}", "key")
    return rows[0]


async def revoke_partner_key(
    uow: UnitOfWork, key: str | int, *, actor: str, reason: str | None = None
) -> tuple[PartnerKey, bool]:
    """Revoke the key (see `find_partner_key`); returns it and whether this call revoked it
    (False: it was revoked already, and nothing changed, nor is audited again)."""
    text = operator_reason(reason)
    row = await find_partner_key(uow, key, lock=True)
    if row.revoked_at is not None:
        return row, False
    row.revoked_at = uow.now
    await log_operator_action(
        uow,
        actor=actor,
        action="partnerKey.revoke",
        target_kind="partnerKey",
        target_id=row.id or 0,
        reason=text,
        detail={"prefix": row.prefix, "businessUnitId": row.business_unit_id, "name": row.name},
    )
    return row, True


async def list_partner_keys(uow: UnitOfWork) -> list[tuple[PartnerKey, str]]:
    """Every key, by id, with its unit's code (never its secret: only the hash is stored)."""
    codes = {unit.id: unit.code for unit in await list_units(uow)}
    rows = await uow.session.scalars(select(PartnerKey).order_by(PartnerKey.id))  # type: ignore[arg-type]
    return [(row, codes.get(row.business_unit_id, str(row.business_unit_id))) for row in rows]
