"""The demo seed: a living programme from an empty database, and nothing on a second run."""

from __future__ import annotations

import random
import re
from datetime import timedelta

from sqlalchemy import func, select, text

from app.demo.people import make_people
from app.demo.seed import seed_demo
from app.domain.ledger.audit import verify_ledger
from app.models import (
    BusinessUnit,
    Lottery,
    MallItem,
    Member,
    MemberBalance,
    MemberRight,
    MemberTier,
    PointsLot,
    PointsTransaction,
    Right,
    TierHistory,
)
from app.platform.uow import unit_of_work
from tests.conftest import NOW, TZ


async def test_seed_builds_a_living_programme_once(clean_db, sessions):
    report = await seed_demo(sessions, tz=TZ, now=NOW, members=30)

    assert report.seeded and report.members == 30
    async with unit_of_work(sessions, now=NOW, tz=TZ) as uow:
        session = uow.session
        codes = set(await session.scalars(select(BusinessUnit.code)))
        assert codes == {"MALL", "HOTEL", "OFFICE", "PROPERTY", "CONVENIENCE", "TOURISM"}
        members = list(await session.scalars(select(Member)))
        assert len(members) == 30
        assert all(re.fullmatch(r"1[358]\d{9}", m.phone) for m in members)
        assert all(not m.display_name.isascii() for m in members)
        kind = PointsTransaction.kind
        kinds = dict((await session.execute(select(kind, func.count()).group_by(kind))).all())
        assert {"EARN", "SPEND", "RELEASE", "EXPIRY"} <= kinds.keys()
        assert sum(kinds.values()) == report.transactions
        earned_at = await session.scalar(
            select(func.count(PointsTransaction.business_unit_id.distinct())).where(
                PointsTransaction.kind == "EARN"
            )
        )
        assert earned_at >= 4
        pending = await session.scalar(select(func.sum(MemberBalance.pending)))
        assert pending > 0 and pending == report.pending
        expiring_soon = await session.scalar(
            select(func.count()).where(
                PointsLot.remaining > 0,
                PointsLot.expires_at > NOW,
                PointsLot.expires_at <= NOW + timedelta(days=30),
            )
        )
        assert expiring_soon > 0 and report.expiring_30d > 0
        assert report.expired > 0
        # tiers come from the orders: some members qualified, each with its history row
        tiers = dict(
            (
                await session.execute(
                    select(MemberTier.tier_code, func.count()).group_by(MemberTier.tier_code)
                )
            ).all()
        )
        assert tiers.get("SILVER", 0) + tiers.get("GOLD", 0) > 0, tiers
        upgrades = await session.scalar(select(func.count()).where(TierHistory.source == "AUTO"))
        assert upgrades >= sum(tiers.values())
        # the formats' own records (per-format data sources) exist for the seeded orders
        for table in ("hotel_stays", "mall_receipts", "parking_sessions", "convenience_orders"):
            assert await session.scalar(text(f"SELECT count(*) FROM {table}")) > 0, table
        # rights from at least four formats, some for sale and some only by tier
        rights = list(await session.scalars(select(Right)))
        assert len({r.provider_unit_id for r in rights}) >= 4
        assert any(r.points_price for r in rights) and any(r.points_price is None for r in rights)
        # every GOLD member holds this month's tier grant of parking hours
        granted = dict(
            (
                await session.execute(
                    select(MemberRight.member_id, func.count())
                    .where(MemberRight.source == "TIER_GRANT")
                    .group_by(MemberRight.member_id)
                )
            ).all()
        )
        gold = set(
            await session.scalars(
                select(MemberTier.member_id).where(MemberTier.tier_code == "GOLD")
            )
        )
        assert gold and all(granted.get(member) == 1 for member in gold), (gold, granted)
        # the mall: 15+ items of every kind from several suppliers, a tier zone, a flash sale
        # opening at 20:00 group time after now
        items = list(await session.scalars(select(MallItem)))
        assert len(items) >= 15 and {i.kind for i in items} == {
            "PHYSICAL",
            "VOUCHER",
            "RIGHT_PACKAGE",
        }
        assert len({i.supplier_unit_id for i in items}) >= 4
        assert any(i.tier_only_code for i in items) and any(i.cash_price for i in items)
        flash = [i for i in items if i.flash_sale]
        assert flash and all(i.sale_starts_at > NOW for i in flash)
        assert {i.sale_starts_at.astimezone(TZ).hour for i in flash} == {20}
        lottery = await session.scalar(select(Lottery))
        assert lottery.cost_points == 10
        latest = await session.scalar(select(func.max(PointsTransaction.created_at)))
        assert latest <= NOW
        assert await verify_ledger(uow) == []

    again = await seed_demo(sessions, tz=TZ, now=NOW, members=30)

    assert not again.seeded
    async with unit_of_work(sessions, now=NOW, tz=TZ) as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Member)) == 30
        count = await uow.session.scalar(select(func.count()).select_from(PointsTransaction))
        assert count == report.transactions


def test_people_are_the_same_for_the_same_seed():
    first = make_people(random.Random(7), NOW, TZ, 50)
    second = make_people(random.Random(7), NOW, TZ, 50)

    assert [(p.phone, p.name, p.joined, p.home) for p in first] == [
        (p.phone, p.name, p.joined, p.home) for p in second
    ]
    assert len({p.phone for p in first}) == 50
    assert sum(p.legacy for p in first) >= 2
