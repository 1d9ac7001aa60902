"""The operators' audit trail: every change an operator makes, who made it, and why."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, Index, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


class OperatorAction(SQLModel, table=True):
    """One operator action (a campaign edited, a tier granted, a flag cleared...); append-only."""

    __tablename__ = "operator_actions"
    __table_args__ = (
        Index("ix_operator_actions_target", "target_kind", "target_id", text("id DESC")),
        Index("ix_operator_actions_actor", "actor", text("id DESC")),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    actor: str = Field(max_length=64)
    action: str = Field(max_length=60)
    target_kind: str = Field(max_length=32)
    target_id: str = Field(max_length=64)
    reason: str | None = Field(default=None, max_length=200)
    detail: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
