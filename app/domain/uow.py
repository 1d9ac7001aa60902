"""The unit of work a domain function runs in: one database transaction and the current time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

if TYPE_CHECKING:
    from app.models import MemberBalance, PointsTransaction


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection behind `session`, for hot paths that send fixed SQL text straight
    to the driver (no statement construction, compilation or ORM loading: a tenth of the CPU).

    Inside a session's transaction the transaction is begun first if the session has not sent
    anything yet, so raw statements always join it; on an AUTOCOMMIT connection they run as
    they are. Values come back as asyncpg decodes them (Decimal, aware datetimes; json and
    jsonb as Python objects, with SQLAlchemy's codecs), and json parameters go in as text."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    options = connection.sync_connection.get_execution_options()  # type: ignore[union-attr]
    if not driver.is_in_transaction() and options.get("isolation_level") != "AUTOCOMMIT":
        await connection.exec_driver_sql("SELECT 1")  # SQLAlchemy begins its transaction
    return driver


@dataclass
class UnitOfWork:
    session: AsyncSession
    now: datetime
    tz: ZoneInfo
    # What this unit of work locked and wrote, held strongly (the session's identity map holds
    # rows only weakly) so that callers can show them after the commit without reading again.
    balances: dict[int, MemberBalance] = field(default_factory=dict)
    recorded: dict[int, PointsTransaction] = field(default_factory=dict)
    _driver: Any = None

    async def driver(self) -> Any:
        """The asyncpg connection in this unit's transaction, for fixed SQL on hot paths
        (see app.db.driver_connection)."""
        if self._driver is None:
            self._driver = await driver_connection(self.session)
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
