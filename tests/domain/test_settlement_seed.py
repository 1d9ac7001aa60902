"""The demo history as settlement: its past months have statements, the older ones closed and
the last month over still open, every one balanced with points redeemed across formats."""

from __future__ import annotations

from sqlalchemy import select

from app.demo.seed import seed_demo
from app.domain.settlement.periods import Period
from app.domain.settlement.statements import settlement_statement
from app.models import SettlementPeriod
from app.platform.uow import unit_of_work
from tests.conftest import NOW, TZ
from tests.domain.test_settlement import FINANCE, assert_balanced


async def test_the_demo_history_has_statements_the_older_ones_closed(clean_db, sessions):
    await seed_demo(sessions, tz=TZ, now=NOW, members=30)
    last_over = Period.of(NOW, TZ).previous()
    async with unit_of_work(sessions, now=NOW, tz=TZ) as uow:
        closed = sorted(await uow.session.scalars(select(SettlementPeriod.period)))
        assert closed and closed[-1] == str(last_over.previous())
        assert closed == sorted(closed) and len(closed) >= 3
        redeemed_elsewhere = 0
        for period in [*closed, str(last_over)]:
            statement = await settlement_statement(uow, principal=FINANCE, period=period)
            assert statement.status == ("OPEN" if period == str(last_over) else "CLOSED")
            assert_balanced(statement)
            redeemed_elsewhere += sum(p.receivable_points for p in statement.parties)
        assert redeemed_elsewhere > 0
