"""Format activity as the formats' own systems record it (the database-backed data sources).

One table per kind: hotel stays (PMS), mall parking sessions and receipts, property bills,
convenience-store orders. Each row belongs to a member and a business unit, carries the
unit's own reference (unique per unit) and the moment it happened; the index on
(member, unit, moment) serves the per-member listing and the 12-month usage figures.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Index, Numeric, UniqueConstraint, text
from sqlmodel import Field, SQLModel


def _ts(nullable: bool = False) -> Any:
    return Field(
        default=None if nullable else ...,
        sa_column=Column(DateTime(timezone=True), nullable=nullable),
    )


def _money() -> Any:
    return Field(sa_column=Column(Numeric(14, 2), nullable=False))


def _indexes(table: str, at: str) -> tuple:
    return (
        UniqueConstraint("business_unit_id", "external_ref", name=f"uq_{table}_ref"),
        Index(f"ix_{table}_member", "member_id", "business_unit_id", text(f"{at} DESC")),
    )


class HotelStay(SQLModel, table=True):
    """A stay from the hotel's PMS: check-in to check-out, room type, the folio amount."""

    __tablename__ = "hotel_stays"
    __table_args__ = _indexes("hotel_stays", "check_in")

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    business_unit_id: int = Field(foreign_key="business_units.id")
    member_id: int = Field(foreign_key="members.id")
    external_ref: str = Field(max_length=64)
    check_in: datetime = _ts()
    check_out: datetime = _ts()
    nights: int
    room_type: str = Field(max_length=32)
    amount: Decimal = _money()


class ParkingSession(SQLModel, table=True):
    """A car park session at the mall: plate, entry and exit, minutes, the fee charged."""

    __tablename__ = "parking_sessions"
    __table_args__ = _indexes("parking_sessions", "entered_at")

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    business_unit_id: int = Field(foreign_key="business_units.id")
    member_id: int = Field(foreign_key="members.id")
    external_ref: str = Field(max_length=64)
    plate: str = Field(max_length=16)
    entered_at: datetime = _ts()
    exited_at: datetime | None = _ts(nullable=True)
    minutes: int
    fee: Decimal = _money()


class MallReceipt(SQLModel, table=True):
    """A receipt from a mall merchant's till."""

    __tablename__ = "mall_receipts"
    __table_args__ = _indexes("mall_receipts", "issued_at")

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    business_unit_id: int = Field(foreign_key="business_units.id")
    member_id: int = Field(foreign_key="members.id")
    external_ref: str = Field(max_length=64)
    merchant_code: str | None = Field(default=None, max_length=32)
    category: str | None = Field(default=None, max_length=32)
    issued_at: datetime = _ts()
    amount: Decimal = _money()


class PropertyBill(SQLModel, table=True):
    """A property-management bill for a member's home or office: period, type, paid or not."""

    __tablename__ = "property_bills"
    __table_args__ = _indexes("property_bills", "issued_at")

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    business_unit_id: int = Field(foreign_key="business_units.id")
    member_id: int = Field(foreign_key="members.id")
    external_ref: str = Field(max_length=64)
    period: str = Field(max_length=7)
    bill_type: str = Field(max_length=24)
    issued_at: datetime = _ts()
    paid_at: datetime | None = _ts(nullable=True)
    amount: Decimal = _money()


class ConvenienceOrder(SQLModel, table=True):
    """An order at a convenience store's till."""

    __tablename__ = "convenience_orders"
    __table_args__ = _indexes("convenience_orders", "ordered_at")

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    business_unit_id: int = Field(foreign_key="business_units.id")
    member_id: int = Field(foreign_key="members.id")
    external_ref: str = Field(max_length=64)
    store_code: str = Field(max_length=16)
    ordered_at: datetime = _ts()
    items: int
    amount: Decimal = _money()
