"""Members: registration, phone normalisation, and which units know whom."""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert

from app.domain.abuse.screening import EarnScreen, device_reference, screen_registration
from app.domain.engagement.rewards import grant_registration_bonus
from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.ids import parse_id
from app.domain.shared.units import find_unit
from app.models import Member, MemberBalance, MemberUnitLink
from app.platform.driver import Driver
from app.platform.uow import UnitOfWork

_REFERRAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
KNOWN_SQL = "SELECT 1 FROM member_unit_links WHERE business_unit_id = $1 AND member_id = $2"


def normalise_phone(raw: str) -> str:
    """A mainland mobile number as 11 ASCII digits (accepts +86 / 0086 / spaces / dashes).
    Full-width or other Unicode digits are refused: stored as they are, the same number could
    register twice (the unique index compares strings)."""
    digits = re.sub(r"[\s\-()]", "", raw or "")
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    if not re.fullmatch(r"1[3-9][0-9]{9}", digits):
        raise DomainError(ErrorCode.INVALID_INPUT, "phone is not a valid mobile number", "phone")
    return digits


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


async def get_member(uow: UnitOfWork, member_id: int | str, field: str = "memberId") -> Member:
    text = str(member_id).strip()
    wanted = parse_id(text)
    member = await uow.session.get(Member, wanted) if wanted is not None else None
    if member is None:
        raise no_member(text, field)
    return member


async def member_exists(uow: UnitOfWork, member_id: int) -> bool:
    """Whether a member with this id exists (one indexed lookup, nothing loaded)."""
    found = await uow.session.scalar(select(Member.id).where(Member.id == member_id))
    return found is not None


async def list_members(
    uow: UnitOfWork, *, limit: int, after_id: int | None = None, search: str | None = None
) -> list[Member]:
    """Members by id after `after_id`; `search` matches a part of the display name or the
    whole phone number."""
    query = select(Member).order_by(Member.id).limit(limit)
    if after_id is not None:
        query = query.where(Member.id > after_id)
    if search and search.strip():
        text = search.strip()
        pattern = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(
            or_(Member.display_name.ilike(f"%{pattern}%", escape="\\"), Member.phone == text)
        )
    return list(await uow.session.scalars(query))


def no_member(member_id: int | str, field: str = "memberId") -> DomainError:
    """NOT_FOUND for a member id no one has."""
    return DomainError(ErrorCode.NOT_FOUND, f"no member {str(member_id).strip()!r}", field)


async def register_member(
    uow: UnitOfWork,
    *,
    phone: str,
    display_name: str,
    business_unit: str | int,
    birthday: date | None = None,
    referral_code: str | None = None,
    external_id: str | None = None,
    device_id: str | None = None,
    screen: EarnScreen | None = None,
) -> Member:
    """Create a member registered via a unit, with a balance row and the unit's link; with a
    `screen`, the registering device counts toward its distinct members once committed."""
    phone = normalise_phone(phone)
    device_reference(device_id)  # a malformed device id: INVALID_INPUT
    name = (display_name or "").strip()
    if not 1 <= len(name) <= 60:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "display name must be 1-60 characters", "displayName"
        )
    if birthday is not None and birthday > uow.local_date():
        raise DomainError(ErrorCode.INVALID_INPUT, "birthday is in the future", "birthday")
    unit = await find_unit(uow, business_unit)
    referrer_id = None
    if referral_code:
        referrer = (
            await uow.session.scalars(
                select(Member).where(Member.referral_code == referral_code.strip().upper())
            )
        ).first()
        if referrer is None:
            raise DomainError(ErrorCode.NOT_FOUND, "unknown referral code", "referralCode")
        referrer_id = referrer.id
    if external_id is not None:
        external_id = external_id.strip()
        if not 1 <= len(external_id) <= 64:
            raise DomainError(
                ErrorCode.INVALID_INPUT, "external id must be 1-64 characters", "externalId"
            )
    inserted = await uow.session.execute(
        insert(Member)
        .values(
            phone=phone,
            display_name=name,
            birthday=birthday,
            registered_at=uow.now,
            registered_via_unit_id=unit.id,
            referral_code=_new_referral_code(),
            referred_by_id=referrer_id,
        )
        .on_conflict_do_nothing(index_elements=["phone"])
        .returning(Member.id)
    )
    member_id = inserted.scalar()
    if member_id is None:
        raise DomainError(ErrorCode.DUPLICATE, "a member with this phone already exists", "phone")
    uow.session.add(MemberBalance(member_id=member_id))
    await link_member(
        uow, member_id=member_id, unit_id=unit.id, via="REGISTRATION", external_id=external_id
    )
    await uow.session.flush()
    await grant_registration_bonus(uow, member_id=member_id)  # by the rule; none without one
    screen_registration(uow, screen, member_id=member_id, device_id=device_id, unit_id=unit.id)
    return await get_member(uow, member_id)


async def link_member(
    uow: UnitOfWork, *, member_id: int, unit_id: int, via: str, external_id: str | None = None
) -> None:
    """Record that `unit_id` knows this member (idempotent; an external id is never reassigned)."""
    if external_id is not None:
        owner = (
            await uow.session.scalars(
                select(MemberUnitLink.member_id).where(
                    MemberUnitLink.business_unit_id == unit_id,
                    MemberUnitLink.external_id == external_id,
                )
            )
        ).first()
        if owner is not None and owner != member_id:
            raise DomainError(
                ErrorCode.DUPLICATE, "external id belongs to another member", "externalId"
            )
    stmt = insert(MemberUnitLink).values(
        business_unit_id=unit_id,
        member_id=member_id,
        external_id=external_id,
        linked_via=via,
        linked_at=uow.now,
    )
    if external_id is not None:
        stmt = stmt.on_conflict_do_update(
            index_elements=["business_unit_id", "member_id"],
            set_={"external_id": external_id},
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=["business_unit_id", "member_id"])
    await uow.session.execute(stmt)


# The member, and their link to unit $2 made (if new) at $4 via $3: one statement, atomic alone.
PRESENTED_SQL = (
    "WITH m AS (SELECT id, phone, display_name, birthday, registered_at, registered_via_unit_id,"
    " referral_code, referred_by_id FROM members WHERE id = $1),"
    " linked AS (INSERT INTO member_unit_links (business_unit_id, member_id, linked_via,"
    " linked_at) SELECT $2, id, $3, $4 FROM m"
    " ON CONFLICT (business_unit_id, member_id) DO NOTHING)"
    " SELECT * FROM m"
)


async def present_member(
    driver: Driver, *, member_id: int, unit_id: int, via: str, at: datetime
) -> Any:
    """A member presented at a unit (a till scanning their code): the member's row (columns
    as `Member`'s), and the unit knows them from now on (as `link_member` without an external
    id). Outside a transaction: the one statement is atomic by itself."""
    row = await driver.fetchrow(PRESENTED_SQL, member_id, unit_id, via, at)
    if row is None:
        raise no_member(member_id)
    return row


async def unit_knows_member(uow: UnitOfWork, *, unit_id: int, member_id: int) -> bool:
    """Whether the unit knows this member (registered there, scanned, or by its customer id)."""
    driver = await uow.driver()
    return await driver.fetchval(KNOWN_SQL, unit_id, member_id) is not None


async def member_by_external_id(uow: UnitOfWork, *, unit_id: int, external_id: str) -> Member:
    member_id = (
        await uow.session.scalars(
            select(MemberUnitLink.member_id).where(
                MemberUnitLink.business_unit_id == unit_id,
                MemberUnitLink.external_id == external_id.strip(),
            )
        )
    ).first()
    if member_id is None:
        raise DomainError(ErrorCode.NOT_FOUND, "no member with this external id", "externalId")
    return await get_member(uow, member_id)


def _new_referral_code() -> str:
    return "".join(secrets.choice(_REFERRAL_ALPHABET) for _ in range(8))
