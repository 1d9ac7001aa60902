"""What a campaign would have given on past orders: for operators weighing a rule before it
runs. Reads only; nothing is recorded.

The campaign (saved or not) is run over the EARN transactions of a period, optionally of one
unit, in the order they were recorded, on the points each order earned before any campaign
(its BASE and TIER lines) and the member's tier and birthday. The period replaces the
campaign's own time window; every other filter applies. The budget starts full and the
per-member cap empty and both cut in order, as they would have. Refunds made later are not
subtracted (the figure is what the campaign would have handed out at the till).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select, tuple_

from app.domain.campaigns.rules import Limits, Offer, OrderFacts, matches, price_offer
from app.domain.ledger.accounts import TxKind
from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.tiers.standing import read_ladder
from app.models import Campaign, Member, Merchant, PointsTransaction
from app.platform.uow import UnitOfWork

MAX_PERIOD = timedelta(days=400)
BATCH = 2000


@dataclass
class SimulationReport:
    orders_examined: int = 0
    orders_matched: int = 0
    points: int = 0
    cut_by_budget: int = 0
    cut_by_member_cap: int = 0
    members: set[int] = field(default_factory=set)
    per_unit: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    budget_exhausted_at: datetime | None = None


def _basis_and_tier(tx: PointsTransaction, lowest_tier: str) -> tuple[int, str]:
    """Points the order earned before campaigns, and the tier that priced it."""
    lines = tx.detail.get("breakdown") or [{"kind": "BASE", "points": tx.points, "rule": ""}]
    basis = sum(line["points"] for line in lines if line["kind"] in ("BASE", "TIER"))
    tier = lowest_tier
    for line in lines:
        if line["kind"] == "TIER":  # rule "tier:GOLD x1.5"
            tier = line["rule"].removeprefix("tier:").split(" ")[0]
    return basis, tier


async def simulate_campaign(
    uow: UnitOfWork,
    *,
    campaign: Campaign,
    since: datetime,
    until: datetime,
    unit_id: int | None = None,
) -> SimulationReport:
    """Run `campaign` over the orders recorded in [since, until) (at most 400 days)."""
    if since.utcoffset() is None or until.utcoffset() is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "times need an offset", "since")
    if not since < until <= since + MAX_PERIOD:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "the period must end after it starts, within 400 days", "until"
        )
    offer = Offer(campaign, "")
    lowest = (await read_ladder(uow))[0][0].code
    limits = Limits(budget_left={campaign.id or 0: campaign.budget or 0})
    used: dict[int, dict[int, int]] = defaultdict(dict)
    report = SimulationReport()
    last = (since, 0)
    while True:
        query = (
            select(PointsTransaction, Member.birthday, Merchant.category)
            .join(Member, Member.id == PointsTransaction.member_id)
            .outerjoin(Merchant, Merchant.id == PointsTransaction.merchant_id)
            .where(
                PointsTransaction.kind == TxKind.EARN.value,
                PointsTransaction.created_at >= since,
                PointsTransaction.created_at < until,
                tuple_(PointsTransaction.created_at, PointsTransaction.id) > tuple_(*last),
            )
            .order_by(PointsTransaction.created_at, PointsTransaction.id)
            .limit(BATCH)
        )
        if unit_id is not None:
            query = query.where(PointsTransaction.business_unit_id == unit_id)
        rows = (await uow.session.execute(query)).all()
        for tx, birthday, shop_category in rows:
            facts = _facts(tx, birthday, tx.category or shop_category, lowest)
            _simulate_order(uow, offer, tx.member_id, facts, limits, used, report)
            uow.session.expunge(tx)  # a long period must not pile up in the session
        if len(rows) < BATCH:
            return report
        last = (rows[-1][0].created_at, rows[-1][0].id)


def _facts(tx: PointsTransaction, birthday, category: str | None, lowest: str) -> OrderFacts:
    """The order as the filters see it (its category, else its merchant's, as at the till)."""
    basis, tier = _basis_and_tier(tx, lowest)
    return OrderFacts(
        at=tx.created_at,
        unit_id=tx.business_unit_id or 0,
        merchant_id=tx.merchant_id,
        category=category,
        amount=tx.order_amount or Decimal(0),
        tier_code=tier,
        birthday=birthday,
        basis=basis,
    )


def _simulate_order(
    uow: UnitOfWork,
    offer: Offer,
    member_id: int,
    facts: OrderFacts,
    limits: Limits,
    used: dict[int, dict[int, int]],
    report: SimulationReport,
) -> None:
    report.orders_examined += 1
    campaign = offer.campaign
    if not matches(campaign, facts, uow.tz, window=False):
        return
    limits.member_used = used[member_id]
    award = price_offer(offer, facts, limits)
    if award is None:
        return
    report.orders_matched += 1
    for line in award.lines:
        if line.kind == "CAP":
            if line.rule.endswith("budget"):
                report.cut_by_budget -= line.points
            else:
                report.cut_by_member_cap -= line.points
    if award.granted == 0:
        return
    cid = campaign.id or 0
    report.points += award.granted
    report.members.add(member_id)
    report.per_unit[facts.unit_id] += award.granted
    limits.member_used[cid] = limits.member_used.get(cid, 0) + award.granted
    if campaign.budget is not None:
        limits.budget_left[cid] -= award.granted
        if limits.budget_left[cid] == 0 and report.budget_exhausted_at is None:
            report.budget_exhausted_at = facts.at
