"""The mall's jobs: expire orders still unpaid past `MALL_PAYMENT_MINUTES`; complete orders
that are done (gifts shipped `MALL_AUTO_COMPLETE_DAYS` ago, voucher orders with nothing left to
use).

Each order is changed in its own transaction under the locks its member's actions take (the
member's balance and the order's row for an expiry, the order's row and its vouchers for a
completion), and checked again under them, so a payment arriving at the same moment either
wins (the order is paid and the job leaves it) or loses (the order is EXPIRED, its points and
stock back, and the payment is refused: WRONG_STATE), and a receipt or a cancel that comes
first leaves nothing to complete. Running a job twice, or twice at once, changes each order
once. Stock an expiry gives back reaches the flash sale's gate (`gate`) after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.domain.mall.completion import complete_due, complete_order
from app.domain.mall.orders import StockGate, expire_order, unpaid_due
from app.platform.outbox import OutboxRelay
from app.platform.uow import unit_of_work

BATCH = 200


@dataclass(frozen=True)
class ExpireOrdersReport:
    orders: int

    def __str__(self) -> str:
        return f"expire-mall-orders: {self.orders} orders expired"


@dataclass(frozen=True)
class CompleteOrdersReport:
    orders: int

    def __str__(self) -> str:
        return f"complete-mall-orders: {self.orders} orders completed"


async def expire_mall_orders(
    sessions: async_sessionmaker,
    *,
    now: datetime,
    tz: ZoneInfo,
    relay: OutboxRelay | None = None,
    batch: int = BATCH,
    gate: StockGate | None = None,
) -> ExpireOrdersReport:
    """Every order unpaid past its window, EXPIRED with its points and stock given back."""
    total = 0
    while True:
        async with unit_of_work(sessions, now=now, tz=tz, relay=relay) as uow:
            due = await unpaid_due(uow, limit=batch)
        for order_id in due:
            async with unit_of_work(sessions, now=now, tz=tz, relay=relay) as uow:
                total += await expire_order(uow, order_id, gate=gate)
        if len(due) < batch:
            return ExpireOrdersReport(total)


async def complete_mall_orders(
    sessions: async_sessionmaker,
    *,
    now: datetime,
    tz: ZoneInfo,
    auto_days: int,
    relay: OutboxRelay | None = None,
    batch: int = BATCH,
) -> CompleteOrdersReport:
    """Every order done by now COMPLETED (app.domain.mall.completion)."""
    total, after_id = 0, 0
    while True:  # by id: an order another run completed first is passed, not read again
        async with unit_of_work(sessions, now=now, tz=tz, relay=relay) as uow:
            due = await complete_due(uow, auto_days=auto_days, after_id=after_id, limit=batch)
        for order_id in due:
            async with unit_of_work(sessions, now=now, tz=tz, relay=relay) as uow:
                total += await complete_order(uow, order_id, auto_days=auto_days)
        if len(due) < batch:
            return CompleteOrdersReport(total)
        after_id = due[-1]
