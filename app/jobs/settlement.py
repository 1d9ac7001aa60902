"""Closing a settlement period from the CLI (`python -m app jobs close-settlement --period`).

Without `--period` it closes the last month that is over in the group's time zone (run it
early each month). Safe to run twice: a closed period is answered from the store, unchanged.
A malformed period, or one not over yet, is refused with the domain's message (exit code 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.domain.settlement.closing import DEFAULT_SETTLE, close_settlement_period
from app.domain.settlement.periods import Period
from app.platform.uow import unit_of_work

ACTOR = "job:close-settlement"


@dataclass(frozen=True)
class CloseReport:
    period: str
    closed_at: datetime | None
    lines: int
    adjustments: int
    receivable: str

    def __str__(self) -> str:
        return (
            f"close-settlement: {self.period} closed at {self.closed_at:%Y-%m-%dT%H:%M:%SZ},"
            f" {self.lines} lines, {self.adjustments} adjustments, {self.receivable} CNY cleared"
        )


async def close_settlement(
    sessions: async_sessionmaker,
    *,
    now: datetime,
    tz: ZoneInfo,
    period: str | None = None,
    settle: timedelta = DEFAULT_SETTLE,
) -> CloseReport:
    """Close `period` (default: the month before `now`'s, group time zone)."""
    wanted = period or str(Period.of(now, tz).previous())
    async with unit_of_work(sessions, now=now, tz=tz) as uow:
        statement = await close_settlement_period(uow, period=wanted, actor=ACTOR, settle=settle)
    return CloseReport(
        period=statement.period,
        closed_at=statement.closed_at.astimezone(UTC) if statement.closed_at else None,
        lines=len(statement.lines),
        adjustments=len(statement.adjustments),
        receivable=str(sum(p.receivable_amount for p in statement.parties)),
    )
