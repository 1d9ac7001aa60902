"""Fixed SQL text sent straight to asyncpg, for the hot paths.

Building a SQLAlchemy statement, compiling it and loading ORM objects costs ten times the CPU
of the round trip itself; the hottest reads and writes therefore send fixed SQL (arrays as
`= ANY($1)`, so the text never varies and asyncpg's prepared-statement cache always hits) on
the same pooled connection and in the same transaction as the session around them.

`Driver` wraps the asyncpg connection so that every statement is seen by `watch_statements`
(tests pin statement counts, the benchmark prints them), as SQLAlchemy's events see its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

_watchers: list[Callable[[str], None]] = []


@contextmanager
def watch_statements(callback: Callable[[str], None]) -> Iterator[None]:
    """Call `callback(sql)` for every statement a `Driver` sends while the block runs."""
    _watchers.append(callback)
    try:
        yield
    finally:
        _watchers.remove(callback)


def _seen(sql: str) -> None:
    for watcher in _watchers:
        watcher(sql)


class Driver:
    """An asyncpg connection that reports its statements; values come back as asyncpg decodes
    them (Decimal, aware datetimes; json/jsonb as Python objects with SQLAlchemy's codecs),
    and json parameters go in as text."""

    __slots__ = ("connection",)

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        if _watchers:
            _seen(sql)
        return await self.connection.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        if _watchers:
            _seen(sql)
        return await self.connection.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        if _watchers:
            _seen(sql)
        return await self.connection.fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> str:
        if _watchers:
            _seen(sql)
        return await self.connection.execute(sql, *args)

    async def executemany(self, sql: str, args: Any) -> None:
        if _watchers:
            _seen(sql)
        await self.connection.executemany(sql, args)

    def is_in_transaction(self) -> bool:
        return self.connection.is_in_transaction()


async def driver_connection(session: AsyncSession) -> Driver:
    """The asyncpg connection behind `session`. Inside a session's transaction the transaction
    is begun first if the session has not sent anything yet, so raw statements always join it;
    on an AUTOCOMMIT connection they run as they are."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    options = connection.sync_connection.get_execution_options()  # type: ignore[union-attr]
    if not driver.is_in_transaction() and options.get("isolation_level") != "AUTOCOMMIT":
        await connection.exec_driver_sql("SELECT 1")  # SQLAlchemy begins its transaction
    return Driver(driver)
