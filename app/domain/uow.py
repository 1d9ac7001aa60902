"""The unit of work a domain function runs in: one database transaction and the current time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.driver import Driver, driver_connection

if TYPE_CHECKING:
    from app.models import MemberBalance, PointsTransaction


@dataclass
class UnitOfWork:
    session: AsyncSession
    now: datetime
    tz: ZoneInfo
    # What this unit of work locked and wrote, held strongly (the session's identity map holds
    # rows only weakly) so that callers can show them after the commit without reading again.
    balances: dict[int, MemberBalance] = field(default_factory=dict)
    recorded: dict[int, PointsTransaction] = field(default_factory=dict)
    _driver: Driver | None = None

    async def driver(self) -> Driver:
        """The asyncpg connection in this unit's transaction, for fixed SQL on hot paths
        (see app.driver). What the session holds unflushed is flushed first, as the session's
        own statements would (autoflush), so that fixed SQL sees it."""
        session = self.session
        if session.new or session.dirty or session.deleted:
            await session.flush()
        if self._driver is None:
            self._driver = await driver_connection(session)
        return self._driver

    def local_date(self, moment: datetime | None = None) -> date:
        return (moment or self.now).astimezone(self.tz).date()


@asynccontextmanager
async def unit_of_work(
    sessions: async_sessionmaker, *, now: datetime | None = None, tz: ZoneInfo
) -> AsyncIterator[UnitOfWork]:
    """One database transaction: committed when the block ends, rolled back on any error."""
    async with sessions() as session, session.begin():
        yield UnitOfWork(session=session, now=now or datetime.now(UTC), tz=tz)
