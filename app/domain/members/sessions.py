"""Members' sessions: what a sign-in gives the mini-program, and how it lives and ends.

A session is one sign-in on one device. It hands out a short-lived access token (the JWT the
API reads, naming the session as `sid`, ACCESS_TOKEN_TTL_SECONDS) and a long-lived refresh
token (REFRESH_TOKEN_TTL_DAYS), stored as its SHA-256 only. Every `refresh_session` replaces
the refresh token by a new one (rotation) and moves the session's expiry; presenting a
replaced token again means two parties hold it — the member and a thief — so the whole
session is revoked (REUSED) and both must sign in again. `sign_out` and `end_session` revoke
a session; the access tokens it handed out stop at their own short expiry.

Ended sessions (expired, or revoked) are kept `retention` days for the record, then
`prune_sessions` (the `prune-sessions` job) deletes them with their refresh tokens.

Refresh is strict: two refreshes racing with the same token (a client that sent it twice)
revoke the session, since the second cannot be told from a thief's.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update

from app.domain.access.tokens import mint_member_token
from app.domain.shared.errors import DomainError, ErrorCode
from app.models import MemberSession, RefreshToken
from app.platform.uow import UnitOfWork, unit_of_work
from app.settings import Settings

REFRESH_PREFIX = "rt_"


class RevokeReason:
    SIGNED_OUT = "SIGNED_OUT"
    ENDED = "ENDED"  # the member ended it from another session (or an operator did)
    REUSED = "REUSED"  # a rotated refresh token came back: taken to be stolen
    UNBOUND = "UNBOUND"  # an operator unbound the member's WeChat account


@dataclass(frozen=True)
class IssuedTokens:
    """What the mini-program keeps: tokens and when each stops working."""

    session_id: str
    member_id: int
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime


def token_hash(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode()).hexdigest()


async def open_session(
    uow: UnitOfWork, settings: Settings, *, member_id: int, via: str, device_id: str | None
) -> IssuedTokens:
    """A new session for a member who just signed in, with its first tokens."""
    session = MemberSession(
        id=uuid.uuid4().hex,
        member_id=member_id,
        via=via,
        device_id=device_id,
        created_at=uow.now,
        refreshed_at=uow.now,
        expires_at=uow.now,
    )
    uow.session.add(session)
    return await _issue(uow, settings, session)


async def refresh_session(
    uow: UnitOfWork, settings: Settings, *, refresh_token: str
) -> IssuedTokens:
    """New tokens for a refresh token, which is replaced by the new one; INVALID_TOKEN for a
    token unknown, expired or of an ended session. A replaced token revokes its session."""
    token, session = await _presented(uow, refresh_token)
    if token.replaced_at is not None:
        _revoke_after_refusal(uow, session.id, RevokeReason.REUSED)
        raise DomainError(
            ErrorCode.INVALID_TOKEN,
            "this refresh token was already used; the session is ended, sign in again",
            "refreshToken",
        )
    if token.expires_at <= uow.now:
        raise DomainError(
            ErrorCode.INVALID_TOKEN, "the refresh token expired; sign in again", "refreshToken"
        )
    token.replaced_at = uow.now
    return await _issue(uow, settings, session)


async def sign_out(uow: UnitOfWork, *, refresh_token: str) -> str:
    """End the session of a refresh token (any of its tokens, even a replaced one: signing out
    is what a thief would not do). Signing out twice is no error. Returns the session id."""
    _, session = await _presented(uow, refresh_token, ended_too=True)
    if session.revoked_at is None:
        _revoke(uow, session, RevokeReason.SIGNED_OUT)
    return session.id


async def end_session(uow: UnitOfWork, *, session_id: str, member_id: int | None) -> MemberSession:
    """Revoke one session; `member_id`: only if it is that member's (NOT_FOUND otherwise, so
    a member cannot learn of others' sessions)."""
    session = await uow.session.get(MemberSession, session_id.strip(), with_for_update=True)
    if session is None or (member_id is not None and session.member_id != member_id):
        raise DomainError(ErrorCode.NOT_FOUND, "no such session", "sessionId")
    if session.revoked_at is None:
        _revoke(uow, session, RevokeReason.ENDED)
    return session


async def revoke_member_sessions(uow: UnitOfWork, *, member_id: int, reason: str) -> int:
    """Revoke every live session of a member; how many there were."""
    result = await uow.session.execute(
        update(MemberSession)
        .where(MemberSession.member_id == member_id, MemberSession.revoked_at.is_(None))
        .values(revoked_at=uow.now, revoked_reason=reason)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def live_sessions(uow: UnitOfWork, *, member_id: int) -> list[MemberSession]:
    """A member's sessions not revoked nor expired, newest first."""
    query = (
        select(MemberSession)
        .where(
            MemberSession.member_id == member_id,
            MemberSession.revoked_at.is_(None),
            MemberSession.expires_at > uow.now,
        )
        .order_by(MemberSession.created_at.desc(), MemberSession.id)
        .limit(100)
    )
    return list(await uow.session.scalars(query))


async def _issue(uow: UnitOfWork, settings: Settings, session: MemberSession) -> IssuedTokens:
    refresh = REFRESH_PREFIX + secrets.token_urlsafe(32)
    refresh_expires = uow.now + timedelta(days=settings.refresh_token_ttl_days)
    uow.session.add(
        RefreshToken(
            token_hash=token_hash(refresh),
            session_id=session.id,
            issued_at=uow.now,
            expires_at=refresh_expires,
        )
    )
    session.refreshed_at = uow.now
    session.expires_at = refresh_expires
    await uow.session.flush()
    ttl = settings.access_token_ttl_seconds
    access = mint_member_token(
        settings, session.member_id, now=uow.now, session_id=session.id, ttl_seconds=ttl
    )
    return IssuedTokens(
        session_id=session.id,
        member_id=session.member_id,
        access_token=access,
        access_expires_at=uow.now + timedelta(seconds=ttl),
        refresh_token=refresh,
        refresh_expires_at=refresh_expires,
    )


async def _presented(
    uow: UnitOfWork, refresh_token: str, *, ended_too: bool = False
) -> tuple[RefreshToken, MemberSession]:
    """The token and its session, both locked; INVALID_TOKEN when unknown or (unless
    `ended_too`) of a revoked session."""
    text = (refresh_token or "").strip()
    unknown = DomainError(ErrorCode.INVALID_TOKEN, "unknown refresh token", "refreshToken")
    if not text.startswith(REFRESH_PREFIX) or len(text) > 100:
        raise unknown
    row = (
        await uow.session.execute(
            select(RefreshToken, MemberSession)
            .join(MemberSession, MemberSession.id == RefreshToken.session_id)
            .where(RefreshToken.token_hash == token_hash(text))
            .with_for_update()
        )
    ).first()
    if row is None:
        raise unknown
    token, session = row
    if session.revoked_at is not None and not ended_too:
        raise DomainError(
            ErrorCode.INVALID_TOKEN, "this session has ended; sign in again", "refreshToken"
        )
    return token, session


def _revoke(uow: UnitOfWork, session: MemberSession, reason: str) -> None:
    session.revoked_at = uow.now
    session.revoked_reason = reason


def _revoke_after_refusal(uow: UnitOfWork, session_id: str, reason: str) -> None:
    """Revoke a session once this unit of work has ended: the refusal that follows rolls it
    back, and the revocation must stand anyway (before the caller sees the refusal)."""

    async def revoke(committed: bool) -> None:
        async with unit_of_work(uow.sessions, now=uow.now, tz=uow.tz) as own:
            await own.session.execute(
                update(MemberSession)
                .where(MemberSession.id == session_id, MemberSession.revoked_at.is_(None))
                .values(revoked_at=own.now, revoked_reason=reason)
            )

    uow.on_end(revoke)


async def prune_sessions(uow: UnitOfWork, *, retention: timedelta, limit: int = 1000) -> int:
    """Delete up to `limit` sessions that ended (expired or revoked) more than `retention`
    ago, with their refresh tokens; how many."""
    before = uow.now - retention
    ended = (
        select(MemberSession.id)
        .where(
            or_(
                MemberSession.expires_at <= before,
                MemberSession.revoked_at <= before,  # type: ignore[operator]
            )
        )
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(await uow.session.scalars(ended))
    if ids:
        await uow.session.execute(
            delete(RefreshToken).where(RefreshToken.session_id.in_(ids))  # type: ignore[attr-defined]
        )
        await uow.session.execute(
            delete(MemberSession).where(MemberSession.id.in_(ids))  # type: ignore[attr-defined]
        )
    return len(ids)
