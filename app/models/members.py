"""Members: one identity across the group, and the units that know them."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, DateTime, Index, text
from sqlmodel import Field, SQLModel


class Member(SQLModel, table=True):
    """One person, the same in every format."""

    __tablename__ = "members"
    __table_args__ = (
        # a period's referral cohort (referralStats): registered then, with a referrer
        Index(
            "ix_members_referred_registered",
            "registered_at",
            postgresql_where=text("referred_by_id IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    phone: str = Field(max_length=20, unique=True)
    display_name: str = Field(max_length=60)
    birthday: date | None = Field(default=None)
    registered_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    registered_via_unit_id: int = Field(foreign_key="business_units.id")
    referral_code: str = Field(max_length=16, unique=True)
    referred_by_id: int | None = Field(default=None, foreign_key="members.id")


class MemberUnitLink(SQLModel, table=True):
    """A unit knows this member: registered there, scanned at its till, or by its customer id."""

    __tablename__ = "member_unit_links"
    __table_args__ = (
        Index(
            "uq_member_unit_links_external",
            "business_unit_id",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
        ),
    )

    business_unit_id: int = Field(foreign_key="business_units.id", primary_key=True)
    member_id: int = Field(foreign_key="members.id", primary_key=True, index=True)
    external_id: str | None = Field(default=None, max_length=64)
    linked_via: str = Field(max_length=16)
    linked_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
