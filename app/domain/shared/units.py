"""Business units and merchants: lookup by id or code, and the earn rate that applies."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.shared.configuration import configuration
from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.ids import is_ascii_digits, parse_id
from app.models import BusinessUnit, CategoryRate, Merchant, Program
from app.platform.uow import UnitOfWork

UNIT_KINDS = ("MALL", "HOTEL", "OFFICE", "PROPERTY", "CONVENIENCE", "TOURISM")


async def find_unit(
    uow: UnitOfWork, ref: str | int | BusinessUnit, field: str = "businessUnitId"
) -> BusinessUnit:
    """The unit with this id or code (a unit already loaded is itself), or NOT_FOUND; from the
    worker's configuration: a value in no session, shared (never to be changed)."""
    if isinstance(ref, BusinessUnit):
        return ref
    text = str(ref).strip()
    config = await configuration(uow)
    unit_id = parse_id(text)
    unit = config.units.get(unit_id) if unit_id is not None else config.unit_codes.get(text.upper())
    if unit is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no business unit {text!r}", field)
    return unit


async def list_units(uow: UnitOfWork) -> list[BusinessUnit]:
    """Every unit, by id, from the worker's configuration (values in no session, shared)."""
    config = await configuration(uow)
    return [config.units[unit_id] for unit_id in sorted(config.units)]


async def get_merchant(
    session: AsyncSession, unit: BusinessUnit, ref: str | int, field: str = "merchantId"
) -> Merchant:
    """A merchant of `unit` by id or code, or NOT_FOUND."""
    text = str(ref).strip()
    query = select(Merchant).where(Merchant.business_unit_id == unit.id)
    if is_ascii_digits(text):
        query = query.where(Merchant.id == (parse_id(text) or -1))
    else:
        query = query.where(Merchant.code == text)
    merchant = (await session.scalars(query)).first()
    if merchant is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no merchant {text!r} in {unit.code}", field)
    return merchant


@dataclass(frozen=True)
class EarnRate:
    points_per_cny: Decimal
    rule: str


async def earn_rate(
    uow: UnitOfWork, unit: BusinessUnit, merchant: Merchant | None, category: str | None
) -> EarnRate:
    """Merchant override, else category override, else the unit's base rate."""
    if merchant is not None and merchant.earn_points_per_cny is not None:
        return EarnRate(merchant.earn_points_per_cny, f"merchant:{merchant.code}")
    cat = category or (merchant.category if merchant else None)
    if cat:
        rate = await uow.session.get(CategoryRate, (unit.id, cat))
        if rate is not None:
            return EarnRate(rate.earn_points_per_cny, f"category:{unit.code}/{cat}")
    return EarnRate(unit.earn_points_per_cny, f"base:{unit.code}")


async def read_program(uow: UnitOfWork) -> Program:
    """Programme policies (the defaults when none were configured), from the worker's
    configuration: a value in no session, shared (never to be changed)."""
    return (await configuration(uow)).program or Program()
