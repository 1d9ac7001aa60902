"""Partner API keys: bound to one business unit, with scopes, stored hashed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel


class PartnerKey(SQLModel, table=True):
    __tablename__ = "partner_keys"

    id: int | None = Field(default=None, primary_key=True)
    business_unit_id: int = Field(foreign_key="business_units.id", index=True)
    prefix: str = Field(max_length=16, unique=True)
    key_hash: str = Field(max_length=64)
    scopes: str = Field(max_length=200)
    name: str = Field(default="", max_length=120)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    revoked_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
