"""Dynamic member codes: short-lived numbers a member shows and a till scans (kept in Redis)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.ids import is_ascii_digits

CODE_DIGITS = 18


def _key(prefix: str, code: str) -> str:
    return f"{prefix}dyncode:{code}"


async def issue_code(
    redis, *, prefix: str, member_id: int, now: datetime, ttl_seconds: int
) -> tuple[str, datetime]:
    """A fresh random code for `member_id`, valid `ttl_seconds`; returns it and its expiry."""
    code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
    await redis.set(_key(prefix, code), str(member_id), ex=ttl_seconds)
    return code, now + timedelta(seconds=ttl_seconds)


async def resolve_code(redis, *, prefix: str, code: str) -> int:
    """The member a scanned code belongs to; an unknown or expired code is CODE_EXPIRED."""
    text = (code or "").strip()
    if not (len(text) == CODE_DIGITS and is_ascii_digits(text)):
        raise DomainError(ErrorCode.INVALID_INPUT, "not a member code", "code")
    member_id = await redis.get(_key(prefix, text))
    if member_id is None:
        raise DomainError(ErrorCode.CODE_EXPIRED, "member code is unknown or has expired", "code")
    return int(member_id)
