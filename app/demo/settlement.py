"""The demo group's settlement: terms from the start of its history, and its past months
closed but the last one (left open for finance to close), so the demo shows closed and open
statements side by side."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.domain.settlement.closing import close_settlement_period
from app.domain.settlement.periods import Period
from app.domain.settlement.terms import set_group_terms, set_unit_terms
from app.domain.shared.units import find_unit
from app.platform.uow import unit_of_work

ACTOR = "demo:finance"


async def seed_demo_settlement(
    sessions: async_sessionmaker, *, first_day: date, now: datetime, tz: ZoneInfo
) -> list[str]:
    """Terms (0.01 CNY a point, the group keeps breakage, the hotel billed at 90%), then every
    month over before the last one closed; answers the periods closed."""
    start = Period(first_day.year, first_day.month)
    async with unit_of_work(sessions, now=now, tz=tz) as uow:
        await set_group_terms(
            uow,
            actor=ACTOR,
            effective_from=start.first_day,
            clearing_price=Decimal("0.01"),
            breakage_policy="GROUP",
        )
        hotel = await find_unit(uow, "HOTEL")
        await set_unit_terms(
            uow,
            actor=ACTOR,
            unit_id=hotel.id,  # type: ignore[arg-type]
            effective_from=start.first_day,
            billing_percentage=Decimal(90),
        )
    last_over = Period.of(now, tz).previous()
    closed = []
    period = start
    while period < last_over:
        async with unit_of_work(sessions, now=now, tz=tz) as uow:
            await close_settlement_period(uow, period=str(period), actor=ACTOR)
        closed.append(str(period))
        period = period.next()
    return closed
