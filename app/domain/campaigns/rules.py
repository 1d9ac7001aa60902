"""Campaigns in the earning engine: which campaigns an order meets, what each one gives, and
the limits that cut it. The rules, stated once (docs/campaigns.md says the same):

- Basis: every campaign works on the order's points after the tier line (base + tier), never
  on another campaign's bonus, so campaigns add up: two x2 campaigns give basis x 3.
- MULTIPLIER: floor(basis x (rate - 1)) extra (rate 2 = double points).
  THRESHOLD: floor(basis x rate) extra when the order is >= min_amount (rate 0.1 = +10 %).
  FIXED: `points` extra. `min_amount` is a filter any kind may use; THRESHOLD requires it.
- Filters (an empty list matches everything): time window [starts_at, ends_at) and not ended;
  units, merchants, categories (the order's, else the merchant's), tiers (the member's tier
  before the order, the one that prices it), weekdays (ISO 1 = Monday) and birthday month,
  both in the group's time zone. A Feb 29 birthday is in February, leap year or not.
- Limits, in this order: the per-member cap (points one member receives over the campaign's
  life, net of refunds), then the budget (points the campaign gives in all, net of refunds).
  A cut shows as a CAP line with negative points; an exhausted campaign gives nothing.
- Exclusive groups: campaigns sharing an `exclusive_group` compete and only the one giving the
  most points after its limits applies (ties: the lowest id); campaigns without a group stack.
- Funding: a campaign's points go into a lot of their own funded by `funder_unit_id` (None: the
  group's marketing budget), so settlement charges the right party.

Concurrency: an earn reserves its bonuses under the member's balance lock; budgeted campaigns
are then locked (`FOR UPDATE`, id order) and their `spent` raised in the same transaction, and
the table's check constraint refuses any overspend. Campaigns without a budget are never locked
or written by an earn or a refund (a mall-wide double-points week must not serialise every earn
on one row): what they gave is the sum of their per-member usage (`spent_by_campaign`), which
changes only under the member's lock. A budget may be added only before a campaign starts; so
that an earn at that very instant (its clock a little ahead) is not missed in `spent`, earns
share each unbudgeted campaign's budget gate (an advisory lock) and then read whether it has a
budget now, while the operator adding one holds the gate alone as it sets `spent`.
Cost per earn: the active campaigns come from the worker's configuration
(app.domain.shared.configuration); when they apply, one lock (budgeted ones only), one usage
read and up to two writes, however many campaigns there are.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

from sqlalchemy import func, select

from app.domain.shared.configuration import Configuration, configuration
from app.domain.till.breakdown import Bonus, BreakdownLine
from app.models import Campaign, CampaignMemberUsage
from app.platform.driver import columns, entity
from app.platform.uow import UnitOfWork

GROUP_FUNDER = "GROUP"

# The budgeted campaigns among the offers ($1), each as it is now: those with a budget in the
# kept configuration ($2) whatever it is now (an operator may have removed it), and any given
# one since; locked in id order.
_LOCK = f"""SELECT {columns(Campaign)} FROM campaigns WHERE id = ANY($1::int[])
AND (id = ANY($2::int[]) OR budget IS NOT NULL) ORDER BY id FOR UPDATE"""
# The budget gate of campaigns without a budget: earns share it, an operator giving one a budget
# takes it alone (`close_budget_gate`), so no earn is half-way through while `spent` is set.
# Advisory locks live in memory: sharing one writes nothing and serialises no earn.
BUDGET_GATE = 0x43504247  # the lock space of these gates ("CPBG"); the key is the campaign id
_SHARE_GATES = """SELECT count(pg_advisory_xact_lock_shared($2, id))
FROM (SELECT unnest($1::int[]) AS id ORDER BY 1) AS gate"""
_CLOSE_GATE = "SELECT pg_advisory_xact_lock($2, $1)"
_BUDGET_LEFT = """SELECT id, budget - spent AS budget_left FROM campaigns
WHERE id = ANY($1::int[]) AND budget IS NOT NULL"""
_USED = """SELECT campaign_id, points FROM campaign_member_usage
WHERE member_id = $1 AND campaign_id = ANY($2::int[])"""
_RAISE_SPENT = "UPDATE campaigns SET spent = spent + $2 WHERE id = $1 AND budget IS NOT NULL"
_GIVE_BACK = """UPDATE campaign_member_usage SET points = points + $3
WHERE campaign_id = $1 AND member_id = $2"""
_GIVE = """INSERT INTO campaign_member_usage (campaign_id, member_id, points)
SELECT given.campaign_id, $1, given.points
FROM unnest($2::int[], $3::int[]) AS given (campaign_id, points)
ON CONFLICT (campaign_id, member_id)
DO UPDATE SET points = campaign_member_usage.points + EXCLUDED.points"""


class CampaignKind(StrEnum):
    MULTIPLIER = "MULTIPLIER"
    FIXED = "FIXED"
    THRESHOLD = "THRESHOLD"


@dataclass(frozen=True)
class OrderFacts:
    """What the filters look at: one order, priced at `basis` points (base + tier)."""

    at: datetime
    unit_id: int
    merchant_id: int | None
    category: str | None
    amount: Decimal
    tier_code: str
    birthday: date | None
    basis: int


@dataclass(frozen=True)
class Offer:
    """An active campaign with its funder's name (a unit code, or GROUP)."""

    campaign: Campaign
    funder: str


@dataclass
class Limits:
    """Points left in each budgeted campaign, and what this member already received."""

    budget_left: dict[int, int] = field(default_factory=dict)
    member_used: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Award:
    """One campaign applied to one order: what it would give and what its limits let through."""

    offer: Offer
    raw: int
    granted: int
    lines: tuple[BreakdownLine, ...]

    @property
    def campaign(self) -> Campaign:
        return self.offer.campaign


def _num(value: Decimal | None) -> str:
    return format((value or Decimal(0)).normalize(), "f")


def matches(campaign: Campaign, facts: OrderFacts, tz, *, window: bool = True) -> bool:
    """Whether the order meets every filter (the time window too unless `window` is False)."""
    if window:
        if facts.at < campaign.starts_at or (campaign.ends_at and facts.at >= campaign.ends_at):
            return False
        if campaign.ended_at is not None and facts.at >= campaign.ended_at:
            return False
    local = facts.at.astimezone(tz)
    return (
        (not campaign.unit_ids or facts.unit_id in campaign.unit_ids)
        and (not campaign.merchant_ids or facts.merchant_id in campaign.merchant_ids)
        and (not campaign.categories or facts.category in campaign.categories)
        and (not campaign.tier_codes or facts.tier_code in campaign.tier_codes)
        and (not campaign.weekdays or local.isoweekday() in campaign.weekdays)
        and (not campaign.birthday_month or _birthday_month(facts.birthday, local.month))
        and (campaign.min_amount is None or facts.amount >= campaign.min_amount)
    )


def _birthday_month(birthday: date | None, month: int) -> bool:
    return birthday is not None and birthday.month == month


def raw_bonus(campaign: Campaign, basis: int) -> BreakdownLine:
    """The campaign's line before limits (funder and id filled in by the caller)."""
    rate = campaign.rate or Decimal(0)
    if campaign.kind == CampaignKind.FIXED:
        points = campaign.points or 0
        rule = f"campaign:{campaign.code} +{points}"
        return BreakdownLine("CAMPAIGN", rule, points, f"fixed bonus of {points} pts")
    if campaign.kind == CampaignKind.MULTIPLIER:
        exact = basis * (rate - 1)
        rule = f"campaign:{campaign.code} x{_num(rate)}"
        detail = f"{basis} pts (base + tier) x ({_num(rate)} - 1) = {_num(exact)}, rounded down"
    else:
        exact = basis * rate
        rule = f"campaign:{campaign.code} +{_num(rate * 100)}% >= {campaign.min_amount} CNY"
        detail = f"{basis} pts (base + tier) x {_num(rate)} = {_num(exact)}, rounded down"
    points = int(exact.to_integral_value(rounding=ROUND_DOWN))
    return BreakdownLine("CAMPAIGN", rule, points, detail)


def price_offer(offer: Offer, facts: OrderFacts, limits: Limits) -> Award | None:
    """The campaign's line and the CAP lines its limits add; None when it gives nothing."""
    campaign = offer.campaign
    cid = campaign.id or 0  # 0: an unsaved campaign (a simulation)
    raw = raw_bonus(campaign, facts.basis)
    if raw.points <= 0:
        return None

    def tagged(kind: str, rule: str, points: int, detail: str) -> BreakdownLine:
        return BreakdownLine(kind, rule, points, detail, campaign_id=cid, funder=offer.funder)

    lines = [tagged(raw.kind, raw.rule, raw.points, raw.detail)]
    granted = raw.points
    if campaign.per_member_cap is not None:
        used = limits.member_used.get(cid, 0)
        left = max(0, campaign.per_member_cap - used)
        if granted > left:
            detail = f"per-member cap {campaign.per_member_cap} pts, {used} already given"
            lines.append(tagged("CAP", f"cap:{campaign.code} member", left - granted, detail))
            granted = left
    if campaign.budget is not None:
        left = max(0, limits.budget_left.get(cid, campaign.budget - campaign.spent))
        if granted > left:
            detail = f"budget {campaign.budget} pts, {left} left"
            lines.append(tagged("CAP", f"cap:{campaign.code} budget", left - granted, detail))
            granted = left
    return Award(offer, raw.points, granted, tuple(lines))


def price_offers(
    offers: Iterable[Offer], facts: OrderFacts, limits: Limits, tz, *, window: bool = True
) -> list[Award]:
    """Every campaign the order meets, priced and limited; within an exclusive group only the
    best one survives. In campaign id order."""
    awards = [
        award
        for offer in sorted(offers, key=lambda o: o.campaign.id or 0)
        if matches(offer.campaign, facts, tz, window=window)
        and (award := price_offer(offer, facts, limits)) is not None
    ]
    best: dict[str, Award] = {}
    for award in awards:
        group = award.campaign.exclusive_group
        if group is not None and (group not in best or award.granted > best[group].granted):
            best[group] = award
    return [a for a in awards if best.get(a.campaign.exclusive_group or "", a) is a]


def bonuses(awards: Sequence[Award]) -> list[Bonus]:
    return [
        Bonus(a.campaign.id, a.campaign.funder_unit_id, a.granted)  # type: ignore[arg-type]
        for a in awards
        if a.granted > 0
    ]


async def active_offers(uow: UnitOfWork, unit_id: int) -> list[Offer]:
    """Campaigns running now that may apply at this unit, with their funders (from the
    worker's configuration)."""
    config = await configuration(uow)
    return [
        Offer(campaign, _funder(config, campaign.funder_unit_id))
        for campaign in config.running_campaigns(uow.now, unit_id)
    ]


def _funder(config: Configuration, unit_id: int | None) -> str:
    unit = config.units.get(unit_id) if unit_id is not None else None
    return unit.code if unit is not None else GROUP_FUNDER


async def award_campaigns(
    uow: UnitOfWork, facts: OrderFacts, *, member_id: int, reserve: bool
) -> list[Award]:
    """Price the campaigns an order meets. With `reserve` (an earn, under the member's balance
    lock) budgets are locked and raised and the member's usage recorded; without (a preview)
    nothing is locked or written."""
    offers = await active_offers(uow, facts.unit_id)
    offers = [offer for offer in offers if matches(offer.campaign, facts, uow.tz)]
    if not offers:
        return []
    driver = await uow.driver()
    limits = Limits()
    budgeted = [o.campaign.id for o in offers if o.campaign.budget is not None]
    unbudgeted = [o.campaign.id for o in offers if o.campaign.budget is None]
    if reserve and unbudgeted:
        # An operator may be giving one of them a budget right now (before it starts, by the
        # operator's clock): wait until that is committed, then read below whether it has one,
        # so its `spent` counts this earn either way.
        await driver.execute(_SHARE_GATES, unbudgeted, BUDGET_GATE)
    if reserve and (budgeted or unbudgeted):
        # the offers see each campaign as it is under the lock (an operator may have changed,
        # removed or added its budget since it was read)
        ids = [o.campaign.id for o in offers]
        rows = await driver.fetch(_LOCK, ids, budgeted)
        locked = {row["id"]: entity(Campaign, row) for row in rows}
        offers = [replace(o, campaign=locked.get(o.campaign.id, o.campaign)) for o in offers]
        limits.budget_left = {
            c.id: c.budget - c.spent  # type: ignore[misc]
            for c in locked.values()
            if c.budget is not None
        }
    elif budgeted:
        # a preview: what the budgets have left now (the kept definitions' `spent` is as of
        # when they were read; earns raise it without changing the configuration's version)
        rows = await driver.fetch(_BUDGET_LEFT, budgeted)
        limits.budget_left = {row["id"]: row["budget_left"] for row in rows}
    capped = [o.campaign.id for o in offers if o.campaign.per_member_cap is not None]
    if capped:
        used = await driver.fetch(_USED, member_id, capped)
        limits.member_used = {row["campaign_id"]: row["points"] for row in used}
    awards = price_offers(offers, facts, limits, uow.tz)
    if reserve:
        granted = {award.campaign.id: award.granted for award in awards}
        await change_usage(
            uow,
            member_id,
            granted,  # type: ignore[arg-type]
            budgeted=limits.budget_left.keys(),
        )
    return awards


async def close_budget_gate(uow: UnitOfWork, campaign_id: int) -> None:
    """Wait until no earn of the campaign is half-way through, and keep new ones out until this
    transaction ends (an operator giving a running-soon campaign a budget; see `_SHARE_GATES`).
    Taken before the campaign's row lock: earns take the gate first too."""
    driver = await uow.driver()
    await driver.execute(_CLOSE_GATE, campaign_id, BUDGET_GATE)


async def change_usage(
    uow: UnitOfWork,
    member_id: int,
    change: dict[int, int],
    *,
    budgeted: Collection[int] | None = None,
) -> None:
    """Add `change[campaign]` points (negative: a refund gives them back) to this member's
    usage, and to `spent` of the campaigns that have a budget. `budgeted`: the ones the caller
    holds locked with a budget (an earn); None: whichever have one now (a refund; rows without
    a budget are neither updated nor locked). The caller holds the member's balance lock;
    campaign rows are updated in id order."""
    change = {cid: points for cid, points in sorted(change.items()) if points}
    if not change:
        return
    driver = await uow.driver()
    raise_spent = {c: p for c, p in change.items() if budgeted is None or c in budgeted}
    if raise_spent:
        await driver.executemany(_RAISE_SPENT, list(raise_spent.items()))
    back = {cid: points for cid, points in change.items() if points < 0}
    if back:  # a refund: the usage rows exist (an INSERT would trip the check first)
        await driver.executemany(_GIVE_BACK, [(cid, member_id, p) for cid, p in back.items()])
    given = {cid: points for cid, points in change.items() if points > 0}
    if given:
        await driver.execute(_GIVE, member_id, list(given), list(given.values()))


async def spent_by_campaign(uow: UnitOfWork, campaigns: Iterable[Campaign]) -> dict[int, int]:
    """Points each campaign has given, net of refunds: a budgeted one's `spent` (kept under
    its lock), else the sum of its members' usage (one query for all of those)."""
    rows = list(campaigns)
    spent = {c.id: c.spent for c in rows if c.budget is not None}
    derived = [c.id for c in rows if c.budget is None]
    if derived:
        totals = await uow.session.execute(
            select(CampaignMemberUsage.campaign_id, func.sum(CampaignMemberUsage.points))
            .where(CampaignMemberUsage.campaign_id.in_(derived))  # type: ignore[attr-defined]
            .group_by(CampaignMemberUsage.campaign_id)
        )
        given = {cid: int(total or 0) for cid, total in totals}
        spent |= {cid: given.get(cid, 0) for cid in derived}
    return spent  # type: ignore[return-value]


__all__ = [
    "GROUP_FUNDER",
    "Award",
    "CampaignKind",
    "Limits",
    "Offer",
    "OrderFacts",
    "active_offers",
    "award_campaigns",
    "bonuses",
    "change_usage",
    "close_budget_gate",
    "matches",
    "price_offers",
    "spent_by_campaign",
]
