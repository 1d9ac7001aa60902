"""Members signing in: the WeChat identities bound to members, and their sessions.

A session is one sign-in on one device; its refresh tokens are stored as SHA-256 hashes, one
row per token, and a token is replaced (rotated) by the next on every refresh. A replaced
token presented again means someone holds a copy: the whole session is revoked.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


class WeChatIdentity(SQLModel, table=True):
    """A WeChat user of one mini-program (appid + openid) bound to a member; one per member
    and app, so a phone bound to one WeChat account is not silently taken by another."""

    __tablename__ = "wechat_identities"
    __table_args__ = (
        UniqueConstraint("appid", "openid", name="uq_wechat_identities_openid"),
        UniqueConstraint("appid", "member_id", name="uq_wechat_identities_member"),
        Index("ix_wechat_identities_unionid", "unionid"),
    )

    id: int | None = Field(default=None, primary_key=True)
    appid: str = Field(max_length=32)
    openid: str = Field(max_length=64)
    unionid: str | None = Field(default=None, max_length=64)
    member_id: int = Field(foreign_key="members.id")
    bound_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class MemberSession(SQLModel, table=True):
    """One sign-in of a member: alive until its refresh token expires or it is revoked."""

    __tablename__ = "member_sessions"
    __table_args__ = (Index("ix_member_sessions_member", "member_id", "created_at"),)

    id: str = Field(primary_key=True, max_length=32)
    member_id: int = Field(foreign_key="members.id")
    via: str = Field(max_length=16)  # WECHAT
    device_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    refreshed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    revoked_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    revoked_reason: str | None = Field(default=None, max_length=16)


class RefreshToken(SQLModel, table=True):
    """A refresh token of a session, by the SHA-256 of its text (the text is never stored)."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_session", "session_id"),)

    token_hash: str = Field(primary_key=True, max_length=64)
    session_id: str = Field(foreign_key="member_sessions.id", max_length=32)
    issued_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    replaced_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
