"""The demo group: the organisation plus members with months of history across all formats.

History is made by the real domain functions (register, earn, spend, refund, cancel and the
release / expiry / tier jobs) while a simulated clock moves day by day, so the ledger holds
exactly what production would have recorded, tiers included: members reach Silver or Gold by
their orders, as they would in production. Each simulated day is one unit of work: the nightly jobs,
then every member's events of the day in time order, each at its own moment (`uow.now`). A
spend or reversal runs in a savepoint, so a refused one does not undo the rest of the day.
Behaviour is drawn from `random.Random(rng_seed)`; only the referral codes (drawn by the
domain) differ between runs. Size: ~12 ledger transactions per member (2,400 for 200), which
the domain records in 40-50 s on the embedded PostgreSQL of a small, busy machine.

The seed is not one transaction: interrupted halfway, it leaves the organisation and part of
the history, and a rerun does nothing (it only seeds a database without business units).
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.demo.campaigns import seed_demo_campaigns
from app.demo.engagement import CALLER, seed_demo_check_ins, seed_demo_rules
from app.demo.format_data import seed_format_activity
from app.demo.mall import seed_demo_mall
from app.demo.organisation import seed_organisation
from app.demo.people import HOURS, Persona, make_people
from app.demo.rights import seed_demo_rights, seed_demo_tier_rights
from app.demo.settlement import seed_demo_settlement
from app.domain.ledger.expiry import (
    expire_member_points,
    members_with_expired_lots,
    members_with_releasable_lots,
    release_member_points,
)
from app.domain.members.identity import link_member, register_member
from app.domain.shared.errors import DomainError
from app.domain.shared.money import CENT
from app.domain.tiers.standing import current_standing, evaluate_expiry, members_due_for_review
from app.domain.till.earning import earn_points
from app.domain.till.reversals import reverse_transaction
from app.domain.till.spending import spend_points
from app.models import BusinessUnit, Member, MemberBalance, PointsLot, PointsTransaction
from app.platform.uow import UnitOfWork, unit_of_work

JOBS_AT = clock(3, 0)  # the nightly release / expiry jobs, group time
REFUNDS = {  # unit: chance an order is refunded later, delay in days (min, max)
    "MALL": (0.05, (1, 14)),
    "TOURISM": (0.04, (0, 5)),
    "HOTEL": (0.01, (0, 3)),
    "CONVENIENCE": (0.005, (0, 2)),
}
SPEND_CANCEL_RATE = 0.04
MALL_SHOPS = [  # merchant, category, weight
    ("M002", "SUPERMARKET", 34),
    ("M004", "DINING", 26),
    ("M005", "FASHION", 14),
    ("M003", "ENTERTAINMENT", 12),
    ("M006", "KIDS", 10),
    ("M001", "JEWELRY", 4),
]


@dataclass(frozen=True)
class SeedReport:
    """What the seed did; `seeded` is False when the database already held a group."""

    seeded: bool
    members: int = 0
    transactions: int = 0
    points_issued: int = 0
    points_redeemed: int = 0
    available: int = 0
    pending: int = 0
    expired: int = 0
    expiring_30d: int = 0
    seconds: float = 0.0
    note: str = ""

    def __str__(self) -> str:
        if not self.seeded:
            return f"demo seed skipped: {self.note}"
        return (
            f"demo seeded in {self.seconds:.1f}s: {self.members} members, "
            f"{self.transactions} transactions, {self.points_issued} points issued, "
            f"{self.points_redeemed} redeemed, {self.available} available, {self.pending} "
            f"pending, {self.expired} expired, {self.expiring_30d} expiring within 30 days"
        )


@dataclass(order=True)
class Event:
    at: datetime
    seq: int
    kind: str = field(compare=False)  # REGISTER, ORDER, REVERSE
    who: int = field(compare=False)
    unit: str = field(compare=False, default="")
    data: dict = field(compare=False, default_factory=dict)


async def seed_demo(
    sessions: async_sessionmaker,
    *,
    tz: ZoneInfo,
    now: datetime | None = None,
    members: int = 200,
    rng_seed: int = 7,
) -> SeedReport:
    """Seed the demo group into a database without business units; otherwise do nothing."""
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    rng = random.Random(rng_seed)
    people = make_people(rng, now, tz, members)
    first_day = min((p.joined for p in people), default=now).astimezone(tz).date()
    async with unit_of_work(sessions, now=now, tz=tz) as uow:
        # Two gateways starting at once: the second waits here, then finds the group.
        await uow.session.execute(text("SELECT pg_advisory_xact_lock(hashtext('bmg:demo-seed'))"))
        if await uow.session.scalar(select(func.count()).select_from(BusinessUnit)):
            return SeedReport(seeded=False, note="the database already has business units")
        await seed_organisation(uow)
        await seed_demo_rules(uow)
        units = {u.code: u for u in await uow.session.scalars(select(BusinessUnit))}
    simulation = Simulation(people, units, rng, tz)
    if people:  # the showcase member's latest mall visit is still in its return window
        recent = _local(now.astimezone(tz).date() - timedelta(days=2), clock(15, 30), tz)
        simulation.push(min(recent, now - timedelta(hours=1)), "ORDER", 0, "MALL", keep=True)
    day, today = first_day, now.astimezone(tz).date()
    while day <= today:
        await simulation.run_day(sessions, day, now)
        day += timedelta(days=1)
    async with unit_of_work(sessions, now=now, tz=tz) as uow:
        await simulation.run_jobs(uow)
    # the history's months as settlement statements: the older closed, the last left open
    await seed_demo_settlement(sessions, first_day=first_day, now=now, tz=tz)
    await seed_demo_check_ins(
        sessions, member_id=people[0].member_id if people else None, now=now, tz=tz
    )
    async with unit_of_work(sessions, now=now, tz=tz) as uow:
        await seed_format_activity(uow)  # the formats' own records (app/sources demo data)
    async with unit_of_work(sessions, now=now, tz=tz) as uow:
        await seed_demo_campaigns(uow)  # after the history: they run from today on
        await seed_demo_rights(uow)
        await seed_demo_tier_rights(uow)
        await seed_demo_mall(uow)
    async with unit_of_work(sessions, now=now, tz=tz) as uow:
        return await _report(uow, time.perf_counter() - started)


class Simulation:
    """The members' events in a time-ordered queue, played day by day against the ledger."""

    def __init__(
        self,
        people: list[Persona],
        units: dict[str, BusinessUnit],
        rng: random.Random,
        tz: ZoneInfo,
    ) -> None:
        self.people, self.units, self.rng, self.tz = people, units, rng, tz
        self.queue: list[Event] = []
        self.seq = itertools.count()
        self.orders = itertools.count(1)

    async def run_day(self, sessions: async_sessionmaker, day: date, now: datetime) -> None:
        """The nightly jobs, then the day's events in time order, in one unit of work."""
        self.plan_day(day)
        end = min(_local(day + timedelta(days=1), clock.min, self.tz), now)
        jobs_at = min(_local(day, JOBS_AT, self.tz), now)
        async with unit_of_work(sessions, now=jobs_at, tz=self.tz) as uow:
            await self.run_jobs(uow)
            while self.queue and self.queue[0].at < end:
                event = heapq.heappop(self.queue)
                await self.apply(dataclasses.replace(uow, now=event.at), event)

    async def run_jobs(self, uow: UnitOfWork) -> None:
        """Release pending lots past their return window, expire lots past expiry, then apply
        the ends of tier validity (keep or downgrade)."""
        for member_id in await members_with_releasable_lots(uow, limit=1_000_000):
            await release_member_points(uow, member_id)
        for member_id in await members_with_expired_lots(uow, limit=1_000_000):
            await expire_member_points(uow, member_id)
        for member_id in await members_due_for_review(uow, limit=1_000_000):
            await evaluate_expiry(uow, member_id, actor="seed:evaluate-tiers")

    def plan_day(self, day: date) -> None:
        """Today's registrations, purchases and bills, drawn from each persona's habits."""
        rng = self.rng
        for who, p in enumerate(self.people):
            joined = p.joined.astimezone(self.tz).date()
            if day < joined or (p.quiet and p.quiet[0] <= day < p.quiet[1]):
                continue
            if day == joined:
                self.push(p.joined, "REGISTER", who)
                if rng.random() < 0.7 or p.legacy:  # most join at the till while buying
                    self.push(
                        p.joined + timedelta(minutes=rng.randint(3, 30)), "ORDER", who, p.home
                    )
                continue
            for unit, chance in p.visits.items():
                if rng.random() < chance:
                    self.push(self.at(day, unit), "ORDER", who, unit)
            if p.bill_day == day.day:
                self.push(self.at(day, "PROPERTY"), "ORDER", who, "PROPERTY")
            if p.parking_day == day.day:
                self.push(self.at(day, "OFFICE"), "ORDER", who, "OFFICE", parking=True)

    def at(self, day: date, unit: str) -> datetime:
        """A random moment of `day` within the unit's opening hours."""
        start, end = HOURS[unit]
        minute = self.rng.randrange(start * 60, end * 60)
        return datetime.combine(day, clock(minute // 60, minute % 60), tzinfo=self.tz)

    def later(self, moment: datetime, unit: str, days: tuple[int, int]) -> datetime:
        day = moment.astimezone(self.tz).date() + timedelta(days=self.rng.randint(*days))
        at = self.at(day, unit)
        return at if at > moment else moment + timedelta(minutes=self.rng.randint(5, 50))

    def push(self, at: datetime, kind: str, who: int, unit: str = "", **data) -> None:
        heapq.heappush(self.queue, Event(at, next(self.seq), kind, who, unit, data))

    async def apply(self, uow: UnitOfWork, event: Event) -> None:
        p = self.people[event.who]
        if event.kind == "REGISTER":
            await self.register(uow, p)
        elif event.kind == "ORDER" and p.member_id is not None:
            await self.order(uow, p, event)
        elif event.kind == "REVERSE":
            await _reverse(uow, **event.data)

    async def register(self, uow: UnitOfWork, p: Persona) -> None:
        referrer = self.people[p.referrer] if p.referrer is not None else None
        member = await register_member(
            uow,
            phone=p.phone,
            display_name=p.name,
            business_unit=self.units[p.home].id,
            birthday=p.birthday,
            referral_code=referrer.referral_code if referrer else None,
            external_id=p.external.get(p.home),
        )
        p.member_id, p.referral_code = member.id, member.referral_code
        p.known.add(p.home)

    async def order(self, uow: UnitOfWork, p: Persona, event: Event) -> None:
        """A purchase: maybe part paid with points, then points earned on the cash part."""
        rng, unit = self.rng, self.units[event.unit]
        if event.unit not in p.known:  # first visit: the till scans the member code
            external_id = p.external.get(event.unit)
            await link_member(
                uow, member_id=p.member_id, unit_id=unit.id, via="CODE", external_id=external_id
            )
            p.known.add(event.unit)
        amount, merchant, category, ref = self.basket(p, event)
        cash = amount
        if rng.random() < p.redeem:
            spent = await self.try_spend(uow, p, unit, amount, ref, merchant)
            if spent is not None:
                cash = amount - (spent.cny_value or Decimal(0))
                if rng.random() < SPEND_CANCEL_RATE:
                    reason = rng.choice(["points payment voided at the till", "wrong amount keyed"])
                    at = self.later(uow.now, event.unit, (0, 2))
                    self.push(at, "REVERSE", event.who, tx=spent.id, reason=reason)
        if cash <= 0:
            return
        earned = await earn_points(
            uow,
            member_id=p.member_id,
            business_unit=unit.id,
            order_ref=ref,
            amount=cash,
            caller=CALLER,
            merchant=merchant,
            category=category,
        )
        chance, delay = REFUNDS.get(event.unit, (0, (0, 0)))
        if not (p.legacy or event.data.get("keep")) and rng.random() < chance:
            part = (cash * rng.randint(20, 80) / 100).quantize(CENT) if rng.random() < 0.4 else None
            reason = "partial return" if part else "order refunded"
            at = self.later(uow.now, event.unit, delay)
            self.push(at, "REVERSE", event.who, tx=earned.id, reason=reason, amount=part)

    async def try_spend(
        self,
        uow: UnitOfWork,
        p: Persona,
        unit: BusinessUnit,
        amount: Decimal,
        ref: str,
        merchant: str | None,
    ) -> PointsTransaction | None:
        """Spend what the unit's rules and the balance allow; None if nothing fits."""
        available = await uow.session.scalar(
            select(MemberBalance.available).where(MemberBalance.member_id == p.member_id)
        )
        bonus = (await current_standing(uow, p.member_id)).tier.spend_value_bonus
        ceiling = int(amount * unit.spend_max_share / (unit.point_value_cny * (1 + bonus)))
        most = min(available or 0, ceiling, unit.spend_daily_cap or ceiling)
        most -= most % unit.spend_step
        if most < unit.spend_min_points:
            return None
        steps = (most - unit.spend_min_points) // unit.spend_step
        points = most
        if self.rng.random() < 0.5:
            points = unit.spend_min_points + self.rng.randint(0, steps) * unit.spend_step
        try:
            async with uow.session.begin_nested():
                return await spend_points(
                    uow,
                    member_id=p.member_id,
                    business_unit=unit.id,
                    order_ref=ref,
                    order_amount=amount,
                    points=points,
                    caller=CALLER,
                    merchant=merchant,
                )
        except DomainError:  # e.g. the daily cap after an earlier spend today
            return None

    def basket(self, p: Persona, event: Event) -> tuple[Decimal, str | None, str | None, str]:
        """What was bought: CNY amount, merchant, category and the unit's order reference."""
        rng, unit = self.rng, event.unit
        stamp = event.at.astimezone(self.tz).strftime("%Y%m%d")
        seq = next(self.orders)
        if unit == "MALL":
            shop, category = rng.choices([s[:2] for s in MALL_SHOPS], [s[2] for s in MALL_SHOPS])[0]
            return _mall_amount(rng, category), shop, category, f"POS-{shop}-{stamp}-{seq:06d}"
        if unit == "CONVENIENCE":
            spree = rng.random() < 0.05
            amount = _cny(rng.uniform(80, 150) if spree else rng.triangular(10, 80, 26), "0.1")
            return amount, None, None, f"CVS{rng.randint(1, 12):03d}-{stamp}-{seq:06d}"
        if unit == "HOTEL":
            nights = rng.choices([1, 2, 3], [60, 30, 10])[0]
            rate = rng.choice([458, 588, 688, 888, 1288])
            while nights > 1 and nights * rate > 2800:
                nights -= 1
            extras = rng.choice([0, 0, 0, 36, 88, 128, 196])  # minibar, breakfast, laundry
            return _cny(nights * rate + extras), None, "ROOM", f"FOLIO-{stamp}-{seq:06d}"
        if unit == "TOURISM":
            category, prices = rng.choice(
                [("TICKET", [68, 98, 128]), ("SHOW", [180, 280, 380]), ("TOUR", [199, 299])]
            )
            people = rng.choices([1, 2, 3, 4], [25, 40, 20, 15])[0]
            return _cny(people * rng.choice(prices)), None, category, f"TKT-{stamp}-{seq:06d}"
        if unit == "PROPERTY":
            amount = p.property_fee + _cny(rng.triangular(30, 260, 90))  # fee + utilities
            room = p.external.get("PROPERTY", "B0-0000")
            return amount, None, "BILL", f"BILL-{room}-{stamp[:6]}-{seq:06d}"
        if event.data.get("parking"):
            return p.parking_fee, None, "PARKING", f"OFC-PARK-{stamp}-{seq:06d}"
        return _cny(rng.randint(2, 8) * 120), None, "MEETING_ROOM", f"OFC-ROOM-{stamp}-{seq:06d}"


async def _reverse(uow: UnitOfWork, *, tx: int, reason: str, amount: Decimal | None = None) -> None:
    """Refund an earn (whole or part) or cancel a spend; skipped if the ledger refuses."""
    try:
        async with uow.session.begin_nested():
            await reverse_transaction(
                uow, transaction_id=tx, reason=reason, caller=CALLER, amount=amount
            )
    except DomainError:
        pass


def _mall_amount(rng: random.Random, category: str) -> Decimal:
    if category == "SUPERMARKET":
        return _cny(rng.triangular(50, 600, 150))
    if category == "DINING":
        return _cny(rng.triangular(80, 500, 180), "1")
    if category == "FASHION":
        return _cny(rng.choice([199, 299, 399, 459, 599, 799, 899, 1299, 1599, 1999]))
    if category == "ENTERTAINMENT":
        return _cny(rng.randint(1, 4) * rng.choice([55, 68, 80]))
    if category == "KIDS":
        return _cny(rng.triangular(100, 800, 260))
    return _cny(rng.choice([880, 1280, 1680, 2380, 2980]))


def _cny(value: float, step: str = "0.01") -> Decimal:
    """`value` rounded to a multiple of `step` CNY, with two decimals."""
    unit = Decimal(step)
    return ((Decimal(str(value)) / unit).quantize(Decimal(1)) * unit).quantize(CENT)


def _local(day: date, at: clock, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz)


async def _report(uow: UnitOfWork, seconds: float) -> SeedReport:
    tx = PointsTransaction
    rows = await uow.session.execute(select(tx.kind, func.sum(tx.points)).group_by(tx.kind))
    by_kind: dict[str, int] = {kind: int(points or 0) for kind, points in rows.all()}
    available, pending = (
        await uow.session.execute(
            select(func.sum(MemberBalance.available), func.sum(MemberBalance.pending))
        )
    ).one()
    soon = await uow.session.scalar(
        select(func.sum(PointsLot.remaining)).where(
            PointsLot.remaining > 0,
            PointsLot.expires_at > uow.now,
            PointsLot.expires_at <= uow.now + timedelta(days=30),
        )
    )
    return SeedReport(
        seeded=True,
        members=await uow.session.scalar(select(func.count()).select_from(Member)) or 0,
        transactions=await uow.session.scalar(select(func.count()).select_from(tx)) or 0,
        points_issued=by_kind.get("EARN", 0) + by_kind.get("ACTIVITY", 0),
        points_redeemed=-(by_kind.get("SPEND", 0) + by_kind.get("SPEND_REVERSAL", 0)),
        available=int(available or 0),
        pending=int(pending or 0),
        expired=-by_kind.get("EXPIRY", 0),
        expiring_30d=int(soon or 0),
        seconds=round(seconds, 1),
    )
