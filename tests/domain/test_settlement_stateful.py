"""Settlement against the ledger, step by step: random earn / spend / refund / cancel /
expire / time / close over three members, three units and several periods (a real unit of
work on PostgreSQL each), with random terms (a billing percentage, a redeemer's price, the
breakage policy, an estimated breakage rate that may change from a period on). PROPERTY is
pre-paid, with blocks that run out: its earnings meet FUNDING_EXHAUSTED and its refunds make
room again.

After every step, for the current and the previous period (and every closed one):
- the nets of all parties sum to exactly zero and receivables equal payables;
- each matrix cell equals the sum of its lines, and every amount is whole cents;
- the points redeemed at each party equal what a small model counted: spends there in the
  period less the cancels of spends there in the period;
- a closed statement is exactly what it was when it was closed;
- each funder's breakage recognised ahead of expiry lies between 0 and the value of its points
  still outstanding, and its liability is that value less it;
- the points outstanding at the end of the running period equal the members' balances
  (available + pending + debt), and `verify_ledger` is clean;
- each of PROPERTY's blocks holds what it was bought with less its recorded net draws, and
  their net draws are the points PROPERTY's ledger account says it has issued.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
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
from app.domain.access.principals import Principal
from app.domain.ledger.audit import verify_ledger
from app.domain.settlement.closing import close_settlement_period
from app.domain.settlement.funding import record_point_block, set_funding_model
from app.domain.settlement.periods import Period
from app.domain.settlement.statement import Statement
from app.domain.settlement.statements import settlement_statement
from app.domain.settlement.terms import set_group_terms, set_unit_terms
from app.domain.shared.errors import DomainError
from app.domain.shared.units import find_unit
from app.models import MemberBalance
from tests.conftest import NOW, TZ
from tests.domain.test_ledger_stateful import DatabaseThread
from tests.helpers import cancel, earn, new_member, refund, run_expire_job, spend

UNITS = ("HOTEL", "OFFICE", "PROPERTY")  # no return window, no daily cap
MEMBERS = 3
FINANCE = Principal(kind="operator", subject="finance-1", roles=frozenset({"finance"}))
CENT = Decimal("0.01")
PROPERTY_BLOCK = 5100
# PROPERTY's block: what is left, its net recorded draws, and the points PROPERTY has issued
_BLOCKS = text("""SELECT
    (SELECT sum(remaining) FROM point_blocks) AS remaining,
    (SELECT coalesce(sum(points), 0) FROM point_block_draws) AS drawn,
    (SELECT -coalesce(sum(p.points), 0) FROM postings p JOIN business_units u
        ON u.id = p.account_owner AND u.code = 'PROPERTY' WHERE p.account_kind = 'ISSUED') AS issued
""")


@dataclass
class Spent:
    tx_id: int
    unit: str
    points: int
    cancelled: bool = False


class SettlementMachine(RuleBasedStateMachine):
    db: DatabaseThread  # set by the test

    def __init__(self) -> None:
        super().__init__()
        self.now = NOW
        self.uow = self.db.uow_factory(lambda: self.now)
        self.members: list[int] = []
        self.earned: list[int] = []
        self.spent: list[Spent] = []
        self.redeemed: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.closed: dict[str, Statement] = {}

    @property
    def period(self) -> Period:
        return Period.of(self.now, TZ)

    @initialize(
        billing=st.sampled_from([None, Decimal(100), Decimal("87.5"), Decimal(0)]),
        price=st.sampled_from([None, Decimal("0.01"), Decimal("0.0137")]),
        policy=st.sampled_from(["GROUP", "FUNDERS"]),
        rate=st.sampled_from([None, Decimal("0.1"), Decimal("0.35")]),
    )
    def start(self, billing, price, policy, rate) -> None:
        self.policy = policy

        async def reset():
            async with self.db.engine.begin() as conn:
                tables = (
                    await conn.execute(
                        text(
                            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                            " AND tablename <> 'alembic_version'"
                        )
                    )
                ).scalars()
                await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            async with self.uow() as uow:
                await seed_organisation(uow)
                # tiers change no rate here: every spend is at the unit's own price
                await uow.session.execute(
                    text("UPDATE tiers SET earn_multiplier = 1, spend_value_bonus = 0")
                )
                await set_funding_model(
                    uow,
                    business_unit="PROPERTY",
                    model="PRE_PAID",
                    actor="finance:test",
                    effective_from=date(2020, 1, 1),
                )
                # 4,500 points for the first earnings below, 600 more: the steps exhaust them soon
                await record_point_block(
                    uow, business_unit="PROPERTY", points=PROPERTY_BLOCK, amount="51.00", actor="f"
                )
                ids = [await new_member(uow) for _ in range(MEMBERS)]
                for member in ids:  # points of every unit to spend from the first step
                    for unit in UNITS:
                        await earn(uow, member, "1500", unit=unit)
            async with self.uow() as uow:
                await set_group_terms(
                    uow,
                    actor="finance:test",
                    effective_from=date(2020, 1, 1),
                    clearing_price=Decimal("0.01"),
                    breakage_policy=policy,
                    breakage_rate=rate,
                )
                hotel = await find_unit(uow, "HOTEL")
                office = await find_unit(uow, "OFFICE")
                if billing is not None:
                    await set_unit_terms(
                        uow,
                        actor="finance:test",
                        unit_id=hotel.id,
                        effective_from=date(2020, 1, 1),
                        billing_percentage=billing,
                    )
                if price is not None:
                    await set_unit_terms(
                        uow,
                        actor="finance:test",
                        unit_id=office.id,
                        effective_from=date(2020, 1, 1),
                        clearing_price=price,
                    )
            return ids

        self.members = self.db.run(reset())

    def _run(self, work):
        async def go():
            try:
                async with self.uow() as uow:
                    return await work(uow)
            except DomainError:
                return None

        return self.db.run(go())

    @rule(who=st.integers(0, MEMBERS - 1), unit=st.sampled_from(UNITS), cny=st.integers(1, 900))
    def earn(self, who, unit, cny) -> None:
        tx = self._run(lambda uow: earn(uow, self.members[who], str(cny), unit=unit))
        if tx is not None:
            self.earned.append(tx.id)

    @rule(
        who=st.integers(0, MEMBERS - 1),
        unit=st.sampled_from(UNITS),
        hundreds=st.integers(1, 8),
    )
    def spend(self, who, unit, hundreds) -> None:
        points = hundreds * 100
        tx = self._run(lambda uow: spend(uow, self.members[who], points, "100000", unit=unit))
        if tx is not None:
            self.spent.append(Spent(tx.id, unit, points))
            self.redeemed[str(self.period)][unit] += points

    @precondition(lambda self: self.spent)
    @rule(pick=st.integers(0, 1 << 16))
    def cancel(self, pick) -> None:
        spent = self.spent[pick % len(self.spent)]
        if spent.cancelled:
            return
        if self._run(lambda uow: cancel(uow, spent.tx_id)) is not None:
            spent.cancelled = True
            self.redeemed[str(self.period)][spent.unit] -= spent.points

    @precondition(lambda self: self.earned)
    @rule(pick=st.integers(0, 1 << 16))
    def refund(self, pick) -> None:
        self._run(lambda uow: refund(uow, self.earned[pick % len(self.earned)]))

    @rule(days=st.integers(1, 25), then_close=st.booleans())
    def time_passes(self, days, then_close) -> None:
        before = self.period
        self.now += timedelta(days=days)
        if then_close and self.period != before:
            self.close_last_period()

    @rule(rate=st.sampled_from([None, Decimal("0.2"), Decimal("0.9")]))
    def breakage_rate_changes(self, rate) -> None:
        """New terms from the running period's first day (a closed period keeps its own)."""
        self._run(
            lambda uow: set_group_terms(
                uow,
                actor="finance:test",
                effective_from=self.period.first_day,
                clearing_price=Decimal("0.01"),
                breakage_policy=self.policy,
                breakage_rate=rate,
            )
        )

    @rule()
    def points_expire(self) -> None:
        self.now += timedelta(days=370)
        self.db.run(run_expire_job(self.uow))

    @rule()
    def close_last_period(self) -> None:
        last = str(self.period.previous())
        statement = self._run(
            lambda uow: close_settlement_period(uow, period=last, actor="finance:test")
        )
        assert statement is not None and statement.status == "CLOSED"
        if last in self.closed:
            assert statement == self.closed[last]
        self.closed[last] = statement

    @invariant()
    def statements_hold(self) -> None:
        if not self.members:
            return

        async def read():
            async with self.uow() as uow:
                statements = {}
                for period in {
                    self.period,
                    self.period.previous(),
                    *map(Period.parse, self.closed),
                }:
                    statements[str(period)] = await settlement_statement(
                        uow, principal=FINANCE, period=str(period)
                    )
                balances = (await uow.session.scalars(select(MemberBalance))).all()
                held = sum(b.available + b.pending + b.debt for b in balances)
                blocks = (await uow.session.execute(_BLOCKS)).one()
                return statements, held, blocks, await verify_ledger(uow)

        statements, held, blocks, problems = self.db.run(read())
        assert problems == []
        assert blocks.remaining == PROPERTY_BLOCK - blocks.drawn
        assert 0 <= blocks.remaining <= PROPERTY_BLOCK and blocks.drawn == blocks.issued
        for period, statement in statements.items():
            assert_balanced(statement)
            every = statement.lines + statement.adjustments
            for unit in UNITS:
                at = sum(line.points for line in every if line.redeemer == unit)
                assert at == self.redeemed[period][unit], (period, unit)
            if period in self.closed:
                assert statement == self.closed[period]
            for p in statement.parties:
                value = (p.liability_points * statement.clearing_price).quantize(CENT)
                assert 0 <= p.breakage_advance_amount <= max(value, Decimal(0))
                assert p.liability_amount == value - p.breakage_advance_amount
                if statement.breakage_rate is None:
                    assert p.breakage_estimated_amount == 0
        running = statements[str(self.period)]
        assert sum(p.liability_points for p in running.parties) == held
        assert {p.party: p.funding_model for p in running.parties}["PROPERTY"] == "PRE_PAID"


def assert_balanced(statement: Statement) -> None:
    parties = statement.parties
    assert sum(p.net_amount for p in parties) == 0
    assert sum(p.receivable_amount for p in parties) == sum(p.payable_amount for p in parties)
    every = statement.lines + statement.adjustments
    for cell in statement.matrix:
        mine = [x for x in every if (x.funder, x.redeemer) == (cell.funder, cell.redeemer)]
        assert (cell.points, cell.amount) == (
            sum(x.points for x in mine),
            sum((x.amount for x in mine), Decimal(0)),
        )
    for line in every:
        assert line.amount + 0 == line.funder_amount + line.group_amount
        assert line.amount == line.amount.quantize(CENT)
    for p in parties:
        assert p.net_amount == p.receivable_amount - p.payable_amount
        assert p.net_amount == p.net_amount.quantize(CENT)


def test_settlement_matches_the_ledger(database_url):
    db = DatabaseThread(database_url)
    SettlementMachine.db = db
    try:
        run_state_machine_as_test(
            SettlementMachine,
            settings=settings(
                max_examples=20,
                stateful_step_count=20,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        db.close()
