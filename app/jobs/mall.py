"""The mall's job: expire orders still unpaid past `MALL_PAYMENT_MINUTES`.

Each order is expired in its own transaction under the member's balance lock and the order's
row lock, the locks a payment confirmation takes, so a payment arriving at the same moment
either wins (the order is paid and the job leaves it) or loses (the order is EXPIRED, its
points and stock back, and the payment is refused: WRONG_STATE). Running the job twice, or
twice at once, expires each order once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.domain.mall.orders import expire_order, unpaid_due
from app.platform.outbox import OutboxRelay
from app.platform.uow import unit_of_work

BATCH = 200


@dataclass(frozen=True)
class ExpireOrdersReport:
    orders: int

    def __str__(self) -> str:
        return f"expire-mall-orders: {self.orders} orders expired"


async def expire_mall_orders(
    sessions: async_sessionmaker,
    *,
    now: datetime,
    tz: ZoneInfo,
    relay: OutboxRelay | None = None,
    batch: int = BATCH,
) -> ExpireOrdersReport:
    """Every order unpaid past its window, EXPIRED with its points and stock given back."""
    total = 0
    while True:
        async with unit_of_work(sessions, now=now, tz=tz, relay=relay) as uow:
            due = await unpaid_due(uow, limit=batch)
        for order_id in due:
            async with unit_of_work(sessions, now=now, tz=tz, relay=relay) as uow:
                total += await expire_order(uow, order_id)
        if len(due) < batch:
            return ExpireOrdersReport(total)
