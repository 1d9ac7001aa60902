"""The catalogue of rights: what each format offers, validated as a whole, edited by operators.

A right belongs to its provider unit (who gives it and writes it off). Its terms:
- face value (what the member sees it is worth) and provider cost (what the provider gives up;
  settlement reads it), decimal CNY, either may be unknown;
- a points price, or none (not for sale: granted by tier or by an operator);
- stock, or none (unlimited); a per-member limit over the member's lifetime, a month or a year
  (group calendar), or none;
- validity: `valid_days` from issue, cut by a fixed window when one is set;
- the tiers that may have it (none listed: every tier) and the other units that may redeem it.
Every creation and change is in the operators' audit trail with before and after.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.ids import parse_id
from app.domain.shared.money import parse_amount
from app.domain.shared.operator_log import log_row_change
from app.domain.shared.units import find_unit
from app.domain.tiers.standing import read_ladder
from app.models import Right
from app.platform.uow import UnitOfWork


class RightKind(StrEnum):
    VOUCHER = "VOUCHER"
    PARKING_HOURS = "PARKING_HOURS"
    LOUNGE_PASS = "LOUNGE_PASS"
    SERVICE = "SERVICE"
    TICKET = "TICKET"
    DISCOUNT = "DISCOUNT"


class LimitPeriod(StrEnum):
    LIFETIME = "LIFETIME"
    MONTH = "MONTH"
    YEAR = "YEAR"


MAX_VALID_DAYS = 3660


@dataclass(frozen=True)
class RightSpec:
    """A right's terms as an operator states them (units by id or code, tiers by code)."""

    business_unit: str | int
    name: str
    kind: str
    valid_days: int
    code: str | None = None
    points_price: int | None = None
    stock: int | None = None
    per_member_limit: int | None = None
    limit_period: str = LimitPeriod.LIFETIME.value
    face_value: Decimal | str | None = None
    provider_cost: Decimal | str | None = None
    eligible_tier_codes: tuple[str, ...] = field(default_factory=tuple)
    redeemable_at_unit_ids: tuple[str | int, ...] = field(default_factory=tuple)
    refundable: bool = False
    window_starts_at: datetime | None = None
    window_ends_at: datetime | None = None


def _bad(message: str, field_name: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, message, field_name)


def _positive(value: int | None, name: str, *, zero: bool = False) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or value < (0 if zero else 1) or value > 100_000_000:
        raise _bad(f"{name} must be a {'non-negative' if zero else 'positive'} whole number", name)
    return value


def _money(value: Decimal | str | None, name: str) -> Decimal | None:
    """Unknown (None), nothing (0.00: a free right costs its provider nothing), or an amount."""
    if value is None:
        return None
    try:
        nothing = Decimal(str(value)) == 0
    except (InvalidOperation, ValueError):
        nothing = False
    return Decimal("0.00") if nothing else parse_amount(value, name)


async def _terms(uow: UnitOfWork, spec: RightSpec) -> dict[str, Any]:
    """The columns of a right with these terms, or INVALID_INPUT / NOT_FOUND for the field at
    fault."""
    name = (spec.name or "").strip()
    if not 1 <= len(name) <= 80:
        raise _bad("name must be 1-80 characters", "name")
    kind = str(spec.kind or "").strip().upper()
    if kind not in RightKind.__members__:
        raise _bad(f"kind must be one of {', '.join(RightKind)}", "kind")
    period = str(spec.limit_period or "").strip().upper()
    if period not in LimitPeriod.__members__:
        raise _bad(f"limitPeriod must be one of {', '.join(LimitPeriod)}", "limitPeriod")
    if not isinstance(spec.valid_days, int) or not 1 <= spec.valid_days <= MAX_VALID_DAYS:
        raise _bad(f"validDays must be 1-{MAX_VALID_DAYS}", "validDays")
    starts, ends = spec.window_starts_at, spec.window_ends_at
    for moment, label in ((starts, "windowStartsAt"), (ends, "windowEndsAt")):
        if moment is not None and moment.tzinfo is None:
            raise _bad("a time needs its offset", label)
    if starts is not None and ends is not None and ends <= starts:
        raise _bad("the window must end after it starts", "windowEndsAt")
    provider = await find_unit(uow, spec.business_unit)
    others = []
    for ref in spec.redeemable_at_unit_ids:
        unit = await find_unit(uow, ref, "redeemableAtUnitIds")
        if unit.id != provider.id and unit.id not in others:
            others.append(unit.id)
    tiers, _ = await read_ladder(uow)
    known = {tier.code for tier in tiers}
    wanted = [str(code).strip().upper() for code in spec.eligible_tier_codes]
    unknown = [code for code in wanted if code not in known]
    if unknown:
        raise DomainError(ErrorCode.NOT_FOUND, f"no tier {unknown[0]}", "eligibleTierCodes")
    code = (spec.code or _code_for(provider.code, name)).strip().upper()
    if not re.fullmatch(r"[A-Z0-9][A-Z0-9_-]{1,39}", code):
        raise _bad("code must be 2-40 letters, digits, '-' or '_'", "code")
    return {
        "code": code,
        "name": name,
        "kind": kind,
        "provider_unit_id": provider.id,
        "face_value": _money(spec.face_value, "faceValue"),
        "provider_cost": _money(spec.provider_cost, "providerCost"),
        "points_price": _positive(spec.points_price, "pointsPrice"),
        "stock_remaining": _positive(spec.stock, "stock", zero=True),
        "per_member_limit": _positive(spec.per_member_limit, "perMemberLimit"),
        "limit_period": period,
        "valid_days": spec.valid_days,
        "window_starts_at": starts,
        "window_ends_at": ends,
        "eligible_tiers": sorted(set(wanted)),
        "redeemable_unit_ids": others,
        "refundable": bool(spec.refundable),
    }


def _code_for(unit_code: str, name: str) -> str:
    """A readable default code: the provider's code and the name's first words."""
    words = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").upper()
    return f"{unit_code}-{words}"[:40].rstrip("-") if words else f"{unit_code}-RIGHT"


def spec_of(right: Right) -> RightSpec:
    return RightSpec(
        business_unit=right.provider_unit_id,
        name=right.name,
        kind=right.kind,
        valid_days=right.valid_days,
        code=right.code,
        points_price=right.points_price,
        stock=right.stock_remaining,
        per_member_limit=right.per_member_limit,
        limit_period=right.limit_period,
        face_value=right.face_value,
        provider_cost=right.provider_cost,
        eligible_tier_codes=tuple(right.eligible_tiers),
        redeemable_at_unit_ids=tuple(right.redeemable_unit_ids),
        refundable=right.refundable,
        window_starts_at=right.window_starts_at,
        window_ends_at=right.window_ends_at,
    )


def snapshot(right: Right) -> dict[str, Any]:
    """The right's terms as the audit trail keeps them."""
    return {key: (str(value) if isinstance(value, Decimal | datetime) else value)
            for key, value in asdict(spec_of(right)).items()}  # fmt: skip


async def get_right(uow: UnitOfWork, right_id: int | str, *, lock: bool = False) -> Right:
    """The right, or NOT_FOUND (`lock`: held until the transaction ends)."""
    text = str(right_id).strip()
    query = select(Right).where(Right.id == (parse_id(text, big=True) or -1))
    if lock:
        query = query.with_for_update()
    right = (await uow.session.scalars(query.execution_options(populate_existing=True))).first()
    if right is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no right {text!r}", "rightId")
    return right


async def get_right_by_code(uow: UnitOfWork, code: str) -> Right:
    """The right with this catalogue code, or NOT_FOUND."""
    right = await uow.session.scalar(select(Right).where(Right.code == code.strip().upper()))
    if right is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no right {code!r}", "rightCode")
    return right


async def list_rights(
    uow: UnitOfWork, *, limit: int, after_id: int | None = None, unit_id: int | None = None
) -> list[Right]:
    """Active rights by id after `after_id`; of one provider when `unit_id` is given."""
    query = select(Right).where(Right.active).order_by(Right.id).limit(limit)
    if after_id is not None:
        query = query.where(Right.id > after_id)
    if unit_id is not None:
        query = query.where(Right.provider_unit_id == unit_id)
    return list(await uow.session.scalars(query))


async def _ensure_code_free(uow: UnitOfWork, code: str, right_id: int | None) -> None:
    taken = await uow.session.scalar(select(Right.id).where(Right.code == code))
    if taken is not None and taken != right_id:
        raise DomainError(ErrorCode.DUPLICATE, f"a right {code} already exists", "code")


async def create_right(
    uow: UnitOfWork, *, spec: RightSpec, actor: str, reason: str | None = None
) -> Right:
    """Add a right to the catalogue; logged."""
    terms = await _terms(uow, spec)
    await _ensure_code_free(uow, terms["code"], None)
    right = Right(**terms, created_at=uow.now, updated_at=uow.now)
    uow.session.add(right)
    return await _logged(uow, right, "right.create", actor=actor, reason=reason, before=None)


async def update_right(
    uow: UnitOfWork,
    *,
    right_id: int | str,
    changes: dict[str, Any],
    actor: str,
    reason: str | None = None,
) -> Right:
    """Change a right's terms (fields of RightSpec in `changes`); logged with before and after.
    Vouchers already issued keep the validity they were issued with."""
    right = await get_right(uow, right_id, lock=True)
    unknown = set(changes) - set(asdict(spec_of(right)))
    if unknown:
        raise _bad(f"unknown fields {sorted(unknown)}", "input")
    before = snapshot(right)
    terms = await _terms(uow, replace(spec_of(right), **changes))
    await _ensure_code_free(uow, terms["code"], right.id)
    for key, value in terms.items():
        setattr(right, key, value)
    right.updated_at = uow.now
    return await _logged(uow, right, "right.update", actor=actor, reason=reason, before=before)


async def _logged(
    uow: UnitOfWork,
    right: Right,
    action: str,
    *,
    actor: str,
    reason: str | None,
    before: dict[str, Any] | None,
) -> Right:
    await log_row_change(
        uow,
        right,
        actor=actor,
        action=action,
        target_kind="right",
        reason=reason,
        before=before,
        after=snapshot(right),
    )
    return right
