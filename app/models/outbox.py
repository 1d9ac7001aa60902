"""The transactional outbox: effects to be sent after a commit, written in the same transaction.

A row is written with the change that caused it (a points movement, a tier change...), so it
exists if and only if that change committed. `relayed_at` is set once the row was handed to the
after-commit consumers (live updates today); rows left unrelayed by a worker that died are
picked up by the sweeper. `webhooks_taken_at` is the webhook dispatcher's own mark.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, Index, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


class OutboxEvent(SQLModel, table=True):
    """One domain event to relay after its transaction committed."""

    __tablename__ = "outbox_events"
    __table_args__ = (
        Index("ix_outbox_events_unrelayed", "id", postgresql_where=text("relayed_at IS NULL")),
        Index(
            "ix_outbox_events_webhooks_untaken",
            "id",
            postgresql_where=text("webhooks_taken_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    type: str = Field(max_length=40)
    member_id: int | None = Field(default=None)
    business_unit_id: int | None = Field(default=None)
    payload: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    relayed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    # Set once the webhook dispatcher has made the event's messages (app.domain.webhooks):
    # a durable consumer, so an event is pruned only after it was taken.
    webhooks_taken_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
