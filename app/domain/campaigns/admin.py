"""Operators edit campaigns: create, update, end, list. Each change is validated as a whole
and logged in the operators' audit trail (before / after) in the same unit of work."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, or_, select

from app.domain.campaigns.rules import CampaignKind, close_budget_gate, spent_by_campaign
from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.ids import parse_id
from app.domain.shared.money import parse_amount
from app.domain.shared.operator_log import log_operator_action
from app.domain.tiers.standing import read_ladder
from app.models import BusinessUnit, Campaign, Merchant
from app.platform.uow import UnitOfWork

MAX_RATE = Decimal(10)
MAX_FIXED = 1_000_000
MAX_LIST = 100
_CODE = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,31}")


@dataclass(frozen=True)
class CampaignSpec:
    """A campaign as an operator writes it: units and funder by id or code, merchants by id,
    tiers by code, weekdays ISO (1 = Monday). `funder` None: the group's marketing budget."""

    code: str
    name: str
    kind: str
    starts_at: datetime
    ends_at: datetime | None = None
    rate: Decimal | str | None = None
    points: int | None = None
    min_amount: Decimal | str | None = None
    business_units: list[str] = field(default_factory=list)
    merchants: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    tiers: list[str] = field(default_factory=list)
    weekdays: list[int] = field(default_factory=list)
    birthday_month: bool = False
    budget: int | None = None
    per_member_cap: int | None = None
    exclusive_group: str | None = None
    funder: str | None = None


def _bad(message: str, field_name: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, message, field_name)


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.utcoffset() is None:
        raise _bad("times need an offset, e.g. 2026-12-01T00:00:00+08:00", name)
    return value


def _kind_values(spec: CampaignSpec) -> tuple[Decimal | None, int | None, Decimal | None]:
    """(rate, points, min_amount) checked for the campaign's kind."""
    try:
        kind = CampaignKind(spec.kind)
    except ValueError:
        raise _bad("kind must be MULTIPLIER, FIXED or THRESHOLD", "kind") from None
    minimum = None if spec.min_amount is None else parse_amount(spec.min_amount, "minAmount")
    try:
        rate = None if spec.rate is None else Decimal(str(spec.rate))
    except InvalidOperation:
        raise _bad("rate is not a number", "rate") from None
    if rate is not None and not rate.is_finite():
        raise _bad("rate is not a number", "rate")
    if kind == CampaignKind.FIXED:
        if spec.points is None or not 1 <= spec.points <= MAX_FIXED:
            raise _bad(f"a FIXED campaign gives 1-{MAX_FIXED} points", "points")
        if rate is not None:
            raise _bad("a FIXED campaign has no rate", "rate")
        return None, spec.points, minimum
    if spec.points is not None:
        raise _bad(f"a {kind.value} campaign has a rate, not points", "points")
    if kind == CampaignKind.MULTIPLIER and (rate is None or not 1 < rate <= MAX_RATE):
        raise _bad("a MULTIPLIER's rate is above 1 and at most 10 (2 = double)", "rate")
    if kind == CampaignKind.THRESHOLD:
        if rate is None or not 0 < rate <= MAX_RATE:
            raise _bad("a THRESHOLD's rate is above 0 and at most 10 (0.1 = +10 %)", "rate")
        if minimum is None:
            raise _bad("a THRESHOLD campaign needs minAmount (CNY)", "minAmount")
    assert rate is not None
    if rate != rate.quantize(Decimal("0.0001")):
        raise _bad("rate has more than four decimals", "rate")
    return rate, None, minimum


def _limit(value: int | None, name: str) -> int | None:
    if value is not None and not 1 <= value <= 10**12:
        raise _bad(f"{name} must be a positive number of points", name)
    return value


def _codes(values: list[str], name: str) -> list[str]:
    codes = sorted({(value or "").strip().upper() for value in values})
    if len(codes) > MAX_LIST or any(not 1 <= len(code) <= 32 for code in codes):
        raise _bad(f"{name}: at most {MAX_LIST} values of 1-32 characters", name)
    return codes


async def _unit_ids(uow: UnitOfWork, refs: list[str], name: str) -> list[int]:
    units = list(await uow.session.scalars(select(BusinessUnit)))
    by_ref = {str(u.id): u.id for u in units} | {u.code: u.id for u in units}
    ids = set()
    for ref in refs:
        unit_id = by_ref.get(str(ref).strip().upper())
        if unit_id is None:
            raise DomainError(ErrorCode.NOT_FOUND, f"no business unit {ref!r}", name)
        ids.add(unit_id)
    return sorted(i for i in ids if i is not None)


async def build_campaign(uow: UnitOfWork, spec: CampaignSpec) -> Campaign:
    """A validated, unsaved campaign from `spec`; INVALID_INPUT / NOT_FOUND naming the field."""
    code = (spec.code or "").strip().upper()
    if not _CODE.fullmatch(code):
        raise _bad("code: 1-32 of A-Z, 0-9, '-' and '_'", "code")
    name = (spec.name or "").strip()
    if not 1 <= len(name) <= 120:
        raise _bad("name must be 1-120 characters", "name")
    rate, points, minimum = _kind_values(spec)
    if spec.starts_at is None:
        raise _bad("startsAt is required", "startsAt")
    starts_at = _aware(spec.starts_at, "startsAt")
    ends_at = _aware(spec.ends_at, "endsAt")
    if ends_at is not None and starts_at is not None and ends_at <= starts_at:
        raise _bad("endsAt must be after startsAt", "endsAt")
    weekdays = sorted(set(spec.weekdays))
    if any(not 1 <= day <= 7 for day in weekdays):
        raise _bad("weekdays are 1 (Monday) to 7 (Sunday)", "weekdays")
    group = (spec.exclusive_group or "").strip() or None
    if group is not None and len(group) > 32:
        raise _bad("exclusiveGroup is at most 32 characters", "exclusiveGroup")
    tiers = _codes(spec.tiers, "tiers")
    known = {tier.code for tier in (await read_ladder(uow))[0]}
    if unknown := [code for code in tiers if code not in known]:
        raise DomainError(ErrorCode.NOT_FOUND, f"no tier {unknown[0]!r}", "tiers")
    merchants = sorted({m for ref in spec.merchants if (m := parse_id(ref)) is not None})
    if len(merchants) != len(set(spec.merchants)) or len(merchants) > MAX_LIST:
        raise _bad("merchants are given by id", "merchants")
    if merchants:
        found = set(
            await uow.session.scalars(select(Merchant.id).where(Merchant.id.in_(merchants)))
        )  # type: ignore[union-attr]
        if missing := [m for m in merchants if m not in found]:
            raise DomainError(ErrorCode.NOT_FOUND, f"no merchant {missing[0]}", "merchants")
    funder = await _unit_ids(uow, [spec.funder], "funder") if spec.funder else [None]
    return Campaign(
        code=code,
        name=name,
        kind=spec.kind,
        rate=rate,
        points=points,
        min_amount=minimum,
        starts_at=starts_at,
        ends_at=ends_at,
        unit_ids=await _unit_ids(uow, spec.business_units, "businessUnits"),
        merchant_ids=merchants,
        categories=_codes(spec.categories, "categories"),
        tier_codes=tiers,
        weekdays=weekdays,
        birthday_month=bool(spec.birthday_month),
        budget=_limit(spec.budget, "budget"),
        per_member_cap=_limit(spec.per_member_cap, "perMemberCap"),
        exclusive_group=group,
        funder_unit_id=funder[0],
        created_by="",
        created_at=uow.now,
        updated_at=uow.now,
    )


DEFINITION = (
    "code name kind rate points min_amount starts_at ends_at unit_ids merchant_ids categories"
    " tier_codes weekdays birthday_month budget per_member_cap exclusive_group funder_unit_id"
).split()


def snapshot(campaign: Campaign, spent: int) -> dict[str, Any]:
    """The campaign's definition and state (`spent`: what it has given), for the audit trail."""
    keys = [*DEFINITION, "ended_at"]
    return {key: getattr(campaign, key) for key in keys} | {"spent": spent}


async def given_by(uow: UnitOfWork, campaign: Campaign) -> int:
    """Points the campaign has given, net of refunds (see `spent_by_campaign`)."""
    return (await spent_by_campaign(uow, [campaign]))[campaign.id or 0]


def spec_of(campaign: Campaign) -> CampaignSpec:
    """The operator's form of a stored campaign (to apply an update over it)."""
    return CampaignSpec(
        code=campaign.code,
        name=campaign.name,
        kind=campaign.kind,
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        rate=campaign.rate,
        points=campaign.points,
        min_amount=campaign.min_amount,
        business_units=[str(i) for i in campaign.unit_ids],
        merchants=[str(i) for i in campaign.merchant_ids],
        categories=list(campaign.categories),
        tiers=list(campaign.tier_codes),
        weekdays=list(campaign.weekdays),
        birthday_month=campaign.birthday_month,
        budget=campaign.budget,
        per_member_cap=campaign.per_member_cap,
        exclusive_group=campaign.exclusive_group,
        funder=str(campaign.funder_unit_id) if campaign.funder_unit_id is not None else None,
    )


async def _ensure_code_free(uow: UnitOfWork, code: str, campaign_id: int | None) -> None:
    taken = await uow.session.scalar(select(Campaign.id).where(Campaign.code == code))
    if taken is not None and taken != campaign_id:
        raise DomainError(ErrorCode.DUPLICATE, f"a campaign {code} already exists", "code")


async def get_campaign(uow: UnitOfWork, campaign_id: int | str, *, lock: bool = False) -> Campaign:
    text = str(campaign_id).strip()
    query = select(Campaign).where(Campaign.id == (parse_id(text) or -1))
    if lock:
        query = query.with_for_update()
    campaign = (await uow.session.scalars(query.execution_options(populate_existing=True))).first()
    if campaign is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no campaign {text!r}", "id")
    return campaign


async def create_campaign(
    uow: UnitOfWork, *, spec: CampaignSpec, actor: str, reason: str | None = None
) -> Campaign:
    """Save a new campaign (it must not have ended already) and log it."""
    campaign = await build_campaign(uow, spec)
    if campaign.ends_at is not None and campaign.ends_at <= uow.now:
        raise _bad("endsAt is in the past", "endsAt")
    await _ensure_code_free(uow, campaign.code, None)
    campaign.created_by = actor[:64]
    uow.session.add(campaign)
    return await _logged(
        uow, campaign, "campaign.create", actor=actor, reason=reason, before=None, given=0
    )


async def update_campaign(
    uow: UnitOfWork,
    *,
    campaign_id: int | str,
    changes: dict[str, Any],
    actor: str,
    reason: str | None = None,
) -> Campaign:
    """Change a campaign that has not ended (fields of CampaignSpec in `changes`); its budget
    may not drop below what it has already given, and one without a budget may get one only
    before it starts. Logged with before and after."""
    gate = parse_id(str(campaign_id))
    if changes.get("budget") is not None and gate is not None and gate < 2**31:
        # Giving it a budget: no earn of it may be half-way through while `spent` is set from
        # what its members received (one whose clock says it has started would be missed).
        await close_budget_gate(uow, gate)
    campaign = await get_campaign(uow, campaign_id, lock=True)
    if campaign.ended_at is not None:
        raise _bad("this campaign has ended", "id")
    unknown = set(changes) - {f for f in asdict(spec_of(campaign))}
    if unknown:
        raise _bad(f"unknown fields {sorted(unknown)}", "input")
    given = await given_by(uow, campaign)
    before = snapshot(campaign, given)
    draft = await build_campaign(uow, replace(spec_of(campaign), **changes))
    adds_budget = campaign.budget is None and draft.budget is not None
    if adds_budget and campaign.starts_at <= uow.now:
        # its earns were never counted under a lock: a budget now could not be held exactly
        raise _bad(
            "a budget can be added only before the campaign starts; end this one and create"
            " a new campaign with a budget",
            "budget",
        )
    if draft.budget is not None and draft.budget < given:
        raise _bad(f"the campaign has already given {given} points", "budget")
    await _ensure_code_free(uow, draft.code, campaign.id)
    if adds_budget:
        campaign.spent = given  # from now on kept under the campaign's lock
    for key in DEFINITION:
        setattr(campaign, key, getattr(draft, key))
    campaign.updated_at = uow.now
    return await _logged(
        uow, campaign, "campaign.update", actor=actor, reason=reason, before=before, given=given
    )


async def _logged(
    uow: UnitOfWork,
    campaign: Campaign,
    action: str,
    *,
    actor: str,
    reason: str | None,
    before: dict[str, Any] | None,
    given: int,
) -> Campaign:
    """Write the campaign and log the operator's action on it, before and after."""
    await uow.session.flush()
    await log_operator_action(
        uow,
        actor=actor,
        action=action,
        target_kind="campaign",
        target_id=campaign.id or 0,
        reason=reason,
        detail={"before": before, "after": snapshot(campaign, given)},
    )
    return campaign


async def end_campaign(
    uow: UnitOfWork, *, campaign_id: int | str, actor: str, reason: str | None = None
) -> Campaign:
    """End a campaign now: orders from this moment get nothing from it. Logged."""
    campaign = await get_campaign(uow, campaign_id, lock=True)
    if campaign.ended_at is not None:
        raise _bad("this campaign has already ended", "id")
    given = await given_by(uow, campaign)
    before = snapshot(campaign, given)
    campaign.ended_at = uow.now
    campaign.updated_at = uow.now
    return await _logged(
        uow, campaign, "campaign.end", actor=actor, reason=reason, before=before, given=given
    )


async def list_campaigns(
    uow: UnitOfWork,
    *,
    active: bool | None = None,
    unit_id: int | None = None,
    limit: int,
    after_id: int | None = None,
) -> list[Campaign]:
    """Campaigns in id order; `active` True: running now (False: not running); `unit_id`: only
    those that may apply at that unit."""
    query = select(Campaign).order_by(Campaign.id).limit(limit)
    running = (
        Campaign.ended_at.is_(None)  # type: ignore[union-attr]
        & (Campaign.starts_at <= uow.now)
        & or_(Campaign.ends_at.is_(None), Campaign.ends_at > uow.now)  # type: ignore[union-attr, operator]
    )
    if active is True:
        query = query.where(running)
    elif active is False:
        query = query.where(~running)
    if unit_id is not None:
        query = query.where(
            or_(func.cardinality(Campaign.unit_ids) == 0, Campaign.unit_ids.contains([unit_id]))  # type: ignore[attr-defined]
        )
    if after_id is not None:
        query = query.where(Campaign.id > after_id)  # type: ignore[operator]
    return list(await uow.session.scalars(query))
