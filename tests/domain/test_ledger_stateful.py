"""The ledger against a small pure-Python model: random earn / spend / refund / cancel / buy a
right / return it / jobs / time steps over three members, every step a real unit of work on
PostgreSQL. Tiers are there
but change no rate (the model leaves them to tests/domain/test_tiers.py).

After every step `verify_ledger()` must be clean and each member's available, pending and debt
must equal the model's. The model keeps lots the way the rules describe them (earliest expiry
spent first, refunds take back from the order's own lot, what was used up becomes debt, later
points pay debt first), independently of how the ledger stores them.

Hypothesis state machines are synchronous and pytest-asyncio owns the session's event loop, so
the database calls run on a dedicated loop in a thread, with an engine of their own.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select, text

from app.demo.organisation import seed_organisation
from app.domain.ledger.audit import verify_ledger
from app.domain.ledger.expiry import expiry_for
from app.domain.rights.catalogue import RightSpec, create_right
from app.domain.rights.lifecycle import refund_right
from app.domain.rights.wallet import buy_right
from app.domain.shared.errors import DomainError, ErrorCode
from app.models import MemberBalance, PointsLot, Program
from app.platform.db import make_engine, make_sessionmaker
from app.platform.uow import unit_of_work
from tests.conftest import NOW, TZ
from tests.helpers import (
    cancel,
    earn,
    new_member,
    refund,
    run_expire_job,
    run_release_job,
    spend,
)

# unit: (points per CNY, pending days)
EARN_UNITS = {
    "HOTEL": (Decimal(2), 0),
    "OFFICE": (Decimal(1), 0),
    "MALL": (Decimal(1), 7),
    "TOURISM": (Decimal("1.5"), 3),
}
CONVENIENCE_CAP = 2000
# A right bought with points and returned: a redemption without the till's rules, given back
# through the ledger's restore path.
RIGHT = RightSpec(
    "TOURISM", "Ticket", "TICKET", 3650, points_price=300, refundable=True
)  # fmt: skip
RESTORE_GRACE = timedelta(days=30)
MEMBERS = 3


class DatabaseThread:
    """An event loop in its own thread, with its own engine, driven synchronously."""

    def __init__(self, database_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.engine = make_engine(database_url, pool_size=5)
        self.sessions = make_sessionmaker(self.engine)

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=120)

    def uow_factory(self, clock):
        def factory(now: datetime | None = None):
            return unit_of_work(self.sessions, now=now or clock(), tz=TZ)

        return factory

    def close(self) -> None:
        self.run(self.engine.dispose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


# --- the model ---------------------------------------------------------------------------------


@dataclass(eq=False)
class Lot:
    seq: int
    points: int
    expires_at: datetime
    pending_until: datetime | None
    pending: bool
    remaining: int = 0
    used: int = 0  # spent (net of restorations) or paid to debt

    def __post_init__(self) -> None:
        self.remaining = self.points


@dataclass(eq=False)
class Earn:
    tx_id: int
    member: int
    cents: int  # order amount in cents
    points: int
    lot: Lot | None
    refunded_cents: int = 0
    settled: int = 0  # points of this order already taken back, charged or written off
    charged: int = 0  # of those, charged as debt


@dataclass(eq=False)
class Spend:
    tx_id: int
    member: int
    unit: str
    points: int
    at: datetime
    parts: list[tuple[Lot, int]]
    cancelled: bool = False
    voucher: int | None = None  # a right bought: its wallet entry
    valid_until: datetime | None = None


@dataclass
class MemberModel:
    lots: list[Lot] = field(default_factory=list)
    debt: int = 0

    @property
    def available(self) -> int:
        return sum(lot.remaining for lot in self.lots if not lot.pending) - self.debt

    @property
    def pending(self) -> int:
        return sum(lot.remaining for lot in self.lots if lot.pending)

    def open_lots(self) -> list[Lot]:
        lots = [lot for lot in self.lots if not lot.pending and lot.remaining > 0]
        return sorted(lots, key=lambda lot: (lot.expires_at, lot.seq))

    def repay(self, lots: list[Lot]) -> None:
        for lot in lots:
            if self.debt == 0:
                return
            if lot.pending or lot.remaining == 0:
                continue
            paid = min(self.debt, lot.remaining)
            lot.remaining -= paid
            lot.used += paid
            self.debt -= paid


class LedgerMachine(RuleBasedStateMachine):
    db: DatabaseThread  # set by the test

    def __init__(self) -> None:
        super().__init__()
        self.now = NOW
        self.uow = self.db.uow_factory(lambda: self.now)
        self.seq = itertools.count()
        self.earned: list[Earn] = []
        self.spent: list[Spend] = []
        self.members_ids = self.db.run(self._reset())
        self.model = {member: MemberModel() for member in self.members_ids}

    async def _reset(self) -> list[int]:
        async with self.db.engine.begin() as conn:
            tables = (
                await conn.execute(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                        "AND tablename <> 'alembic_version'"
                    )
                )
            ).scalars()
            await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        async with self.uow() as uow:
            await seed_organisation(uow)
            # The model is the ledger's, not the tiers': a member whose orders cross a tier's
            # threshold must not earn or spend at another rate than the unit's own.
            await uow.session.execute(
                text("UPDATE tiers SET earn_multiplier = 1, spend_value_bonus = 0")
            )
            self.right_id = (await create_right(uow, spec=RIGHT, actor="test")).id
            return [await new_member(uow) for _ in range(MEMBERS)]

    def _call(self, fn, *args, **kwargs):
        """Run one domain call in its own unit of work; a DomainError comes back as a value."""

        async def go():
            try:
                async with self.uow() as uow:
                    return await fn(uow, *args, **kwargs)
            except DomainError as error:
                return error

        return self.db.run(go())

    def _new_lot(self, points: int, expires_at: datetime, pending_until: datetime | None) -> Lot:
        return Lot(
            next(self.seq), points, expires_at, pending_until, pending=pending_until is not None
        )

    # --- steps ---------------------------------------------------------------------------------

    def _earn(self, who: int, unit: str, cents: int) -> None:
        member = self.members_ids[who]
        amount = Decimal(cents) / 100
        tx = self._call(earn, member, str(amount), unit)
        assert not isinstance(tx, DomainError), tx.message
        rate, pending_days = EARN_UNITS[unit]
        points = int(amount * rate)
        assert tx.points == points
        model = self.model[member]
        lot = None
        if points:
            pending_until = self.now + timedelta(days=pending_days) if pending_days else None
            lot = self._new_lot(points, expiry_for(Program(), self.now, TZ), pending_until)
            model.lots.append(lot)
            model.repay([lot])
        self.earned.append(Earn(tx.id, member, cents, points, lot))

    @initialize(
        amounts=st.lists(
            st.tuples(st.integers(10_000, 200_000), st.integers(100, 100_000)),
            min_size=MEMBERS,
            max_size=MEMBERS,
        ),
    )
    def fund_members(self, amounts):
        """Every member starts with a hotel lot and, an hour later, an office lot."""
        for who, (hotel, _) in enumerate(amounts):
            self._earn(who, "HOTEL", hotel)
        self.now += timedelta(hours=1)
        for who, (_, office) in enumerate(amounts):
            self._earn(who, "OFFICE", office)

    @rule(
        who=st.integers(0, MEMBERS - 1),
        unit=st.sampled_from(sorted(EARN_UNITS)),
        cents=st.integers(100, 100_000),
    )
    def earn(self, who, unit, cents):
        self._earn(who, unit, cents)

    @rule(
        who=st.integers(0, MEMBERS - 1),
        share=st.integers(1, 110),
        unit=st.sampled_from(["HOTEL", "CONVENIENCE"]),
    )
    def spend(self, who, share, unit):
        """Spend about `share` percent of what the member has (over 100: more than they have)."""
        available = self.model[self.members_ids[who]].available
        hundreds = max(1, available * share // 10_000)
        member, points = self.members_ids[who], hundreds * 100
        model = self.model[member]
        result = self._call(spend, member, points, "100000", unit)
        if unit == "CONVENIENCE" and self._spent_today(member) + points > CONVENIENCE_CAP:
            assert isinstance(result, DomainError) and result.code == ErrorCode.LIMIT_REACHED
            return
        # Spending first expires the member's lots past their expiry (rolled back if refused).
        due = [lot for lot in model.lots if lot.remaining > 0 and lot.expires_at <= self.now]
        if points > model.available - sum(lot.remaining for lot in due if not lot.pending):
            assert isinstance(result, DomainError)
            assert result.code == ErrorCode.INSUFFICIENT_POINTS
            return
        assert not isinstance(result, DomainError), result.message
        assert result.points == -points
        self.spent.append(
            Spend(result.id, member, unit, points, self.now, self._take(model, due, points))
        )

    def _take(self, model: MemberModel, due: list[Lot], points: int) -> list[tuple[Lot, int]]:
        """The model's redemption: lots past expiry expire first, then earliest expiry first."""
        for lot in due:
            lot.remaining = 0
        parts, needed = [], points
        for lot in model.open_lots():
            if needed == 0:
                break
            part = min(needed, lot.remaining)
            lot.remaining -= part
            lot.used += part
            parts.append((lot, part))
            needed -= part
        assert needed == 0
        return parts

    @rule(who=st.integers(0, MEMBERS - 1))
    def buy_right(self, who):
        member = self.members_ids[who]
        model = self.model[member]
        result = self._call(buy_right, member_id=member, right_id=self.right_id, caller="test")
        due = [lot for lot in model.lots if lot.remaining > 0 and lot.expires_at <= self.now]
        if RIGHT.points_price > model.available - sum(
            lot.remaining for lot in due if not lot.pending
        ):
            assert isinstance(result, DomainError)
            assert result.code == ErrorCode.INSUFFICIENT_POINTS
            return
        assert not isinstance(result, DomainError), result.message
        parts = self._take(model, due, RIGHT.points_price)
        bought = Spend(
            result.transaction_id, member, "TOURISM", RIGHT.points_price, self.now, parts
        )
        bought.voucher, bought.valid_until = result.id, result.valid_until
        self.spent.append(bought)

    def _spent_today(self, member: int) -> int:
        start = datetime.combine(self.now.astimezone(TZ).date(), time.min, tzinfo=TZ)
        return sum(
            s.points
            for s in self.spent
            if s.member == member and s.unit == "CONVENIENCE" and not s.cancelled and s.at >= start
        )

    @rule(pick=st.integers(0, 1 << 16))
    def refund_whole(self, pick):
        self._refund(self.earned[pick % len(self.earned)], None)

    @rule(pick=st.integers(0, 1 << 16), share=st.integers(1, 120))
    def refund_part(self, pick, share):
        """Refund `share` percent of an order (over 100, or past what is left: refused)."""
        order = self.earned[pick % len(self.earned)]
        self._refund(order, max(1, order.cents * share // 100))

    def _refund(self, order: Earn, cents: int | None):
        amount = None if cents is None else str(Decimal(cents) / 100)
        result = self._call(refund, order.tx_id, amount)
        left = order.cents - order.refunded_cents
        if left <= 0:
            assert isinstance(result, DomainError)
            assert result.code == ErrorCode.ALREADY_REVERSED
            return
        cents = left if cents is None else cents
        if cents > left:
            assert isinstance(result, DomainError) and result.code == ErrorCode.INVALID_INPUT
            return
        assert not isinstance(result, DomainError), result.message
        model = self.model[order.member]
        target = order.points * (order.refunded_cents + cents) // order.cents
        due = target - order.settled
        lot = order.lot
        taken = min(due, lot.remaining) if lot else 0
        short = due - taken
        debt = max(0, min(short, lot.used - order.charged)) if lot and short else 0
        assert result.points == -(taken + debt)
        assert result.detail == {"taken": taken, "debt": debt, "expired": short - debt}
        if lot:
            lot.remaining -= taken
        order.refunded_cents += cents
        order.settled += due
        order.charged += debt
        model.debt += debt
        if debt:
            model.repay(model.open_lots())

    @precondition(lambda self: self.spent)
    @rule(pick=st.integers(0, 1 << 16))
    def cancel(self, pick):
        """Cancel a till's spend, or return a bought right."""
        order = self.spent[pick % len(self.spent)]
        if order.voucher is None:
            result = self._call(cancel, order.tx_id)
        else:
            result = self._call(refund_right, member_right_id=order.voucher, caller="test")
        if order.cancelled:
            assert isinstance(result, DomainError)
            assert result.code == ErrorCode.ALREADY_REVERSED
            return
        if order.valid_until is not None and order.valid_until <= self.now:
            assert isinstance(result, DomainError) and result.code == ErrorCode.VOUCHER_EXPIRED
            return
        assert not isinstance(result, DomainError), result.message
        if order.voucher is not None:
            assert result.status == "REFUNDED"
        else:
            assert result.points == order.points
        order.cancelled = True
        model = self.model[order.member]
        touched = []
        for lot, part in order.parts:
            if lot.expires_at > self.now:
                lot.remaining += part
                lot.used -= part
                touched.append(lot)
            else:  # expired meanwhile: back as a new lot with a grace period
                regrant = self._new_lot(part, self.now + RESTORE_GRACE, None)
                model.lots.append(regrant)
                touched.append(regrant)
        model.repay(touched)

    def _lots(self):
        return (lot for model in self.model.values() for lot in model.lots)

    @precondition(
        lambda self: any(lot.remaining and lot.expires_at <= self.now for lot in self._lots())
    )
    @rule()
    def expire_job(self):
        done = self.db.run(run_expire_job(self.uow))
        expected = 0
        for model in self.model.values():
            for lot in model.lots:
                if lot.remaining > 0 and lot.expires_at <= self.now:
                    expected += lot.remaining
                    lot.remaining = 0
        assert -sum(tx.points for tx in done) == expected

    @precondition(
        lambda self: any(lot.pending and lot.pending_until <= self.now for lot in self._lots())
    )
    @rule()
    def release_job(self):
        self.db.run(run_release_job(self.uow))
        for model in self.model.values():
            released = [
                lot
                for lot in model.lots
                if lot.pending and lot.pending_until is not None and lot.pending_until <= self.now
            ]
            for lot in released:
                lot.pending = False
            model.repay(sorted(released, key=lambda lot: (lot.expires_at, lot.seq)))

    @rule(
        step=st.one_of(
            st.integers(1, 48).map(lambda h: timedelta(hours=h)),
            st.integers(1, 400).map(lambda d: timedelta(days=d)),
        )
    )
    def advance_time(self, step):
        self.now += step

    # --- what must hold after every step -------------------------------------------------------

    @invariant()
    def ledger_is_clean_and_matches_the_model(self):
        async def read():
            async with self.uow() as uow:
                problems = await verify_ledger(uow)
                balances = {
                    member: await uow.session.get(MemberBalance, member)
                    for member in self.members_ids
                }
                lots = await uow.session.scalars(select(PointsLot.remaining).order_by(PointsLot.id))
                return (
                    problems,
                    {m: (b.available, b.pending, b.debt) for m, b in balances.items()},
                    list(lots),
                )

        problems, balances, lots = self.db.run(read())
        assert problems == []
        for member, model in self.model.items():
            assert balances[member] == (model.available, model.pending, model.debt)
            assert model.debt == 0 or not model.open_lots()  # debt only once points ran out
        # lot by lot, in the order they were created
        assert lots == [lot.remaining for lot in sorted(self._lots(), key=lambda lot: lot.seq)]


def test_ledger_matches_the_model(database_url):
    db = DatabaseThread(database_url)
    LedgerMachine.db = db
    try:
        run_state_machine_as_test(
            LedgerMachine,
            settings=settings(
                max_examples=30,
                stateful_step_count=25,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        db.close()
