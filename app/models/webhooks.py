"""Webhooks out: the endpoints partners and operators subscribe, the messages made for them
from the outbox's events, and every attempt to deliver one.

An endpoint holds its signing secret as is (a signature needs it; docs/webhooks.md says how it
is kept out of logs) and, for 24 hours after a rotation, the previous one. A message is one
event for one endpoint, made once (unique per endpoint and event) with its body fixed, so every
retry sends the same bytes under the same `webhook_id`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Index, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


def _ts(nullable: bool = False) -> Any:
    return Field(
        default=None if nullable else ...,
        sa_column=Column(DateTime(timezone=True), nullable=nullable),
    )


class WebhookEndpoint(SQLModel, table=True):
    """A URL that receives the event types it subscribed, for one unit or (None) the group."""

    __tablename__ = "webhook_endpoints"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    url: str = Field(max_length=2000)
    business_unit_id: int | None = Field(default=None, foreign_key="business_units.id")
    events: list = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    description: str = Field(default="", max_length=200)
    secret: str = Field(max_length=100)
    previous_secret: str | None = Field(default=None, max_length=100)
    previous_secret_until: datetime | None = _ts(nullable=True)
    created_by: str = Field(max_length=80)
    created_at: datetime = _ts()
    disabled_at: datetime | None = _ts(nullable=True)
    disabled_reason: str | None = Field(default=None, max_length=200)
    failing_since: datetime | None = _ts(nullable=True)
    last_success_at: datetime | None = _ts(nullable=True)
    last_failure_at: datetime | None = _ts(nullable=True)


class WebhookMessage(SQLModel, table=True):
    """One event for one endpoint: PENDING until delivered (DELIVERED) or given up (FAILED)."""

    __tablename__ = "webhook_messages"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_messages_event"),
        Index("ix_webhook_messages_endpoint", "endpoint_id", "id"),
        Index(
            "ix_webhook_messages_due",
            "next_attempt_at",
            postgresql_where=text("status = 'PENDING'"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    webhook_id: str = Field(max_length=40, unique=True)
    endpoint_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    event_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    type: str = Field(max_length=40)
    member_id: int | None = Field(default=None)
    sequence: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    body: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(max_length=10)
    tries: int = Field(default=0)
    next_attempt_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()
    delivered_at: datetime | None = _ts(nullable=True)
    last_error: str | None = Field(default=None, max_length=200)


class WebhookAttempt(SQLModel, table=True):
    """One try at delivering a message, as the delivery log shows it."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_message", "message_id", "id"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    message_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    attempted_at: datetime = _ts()
    status_code: int | None = Field(default=None)
    duration_ms: int = Field(default=0)
    error: str | None = Field(default=None, max_length=200)
    response_excerpt: str | None = Field(default=None, max_length=500)


class WebhookMemberSequence(SQLModel, table=True):
    """The last sequence number a member's messages were given (docs/webhooks.md)."""

    __tablename__ = "webhook_member_sequences"

    member_id: int = Field(primary_key=True)
    last_sequence: int = Field(sa_column=Column(BigInteger, nullable=False))


class MemberWarning(SQLModel, table=True):
    """A warning sent to a member's systems once (points expiring on a day, a tier ending on a
    day): what makes the warning jobs safe to run twice."""

    __tablename__ = "member_warnings"

    kind: str = Field(max_length=40, primary_key=True)
    member_id: int = Field(primary_key=True)
    due_on: str = Field(max_length=10, primary_key=True)  # the local date warned about
    created_at: datetime = _ts()
