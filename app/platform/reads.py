"""Reads outside any transaction: fixed SQL on a connection borrowed from the engine's pool.

A read-only statement needs no BEGIN/COMMIT, no Session and no SQLAlchemy Connection: the
pool is asked directly, and its asyncpg connection is used as it is, outside any transaction
(each statement its own snapshot, as on an AUTOCOMMIT session). Statements go through a
`Driver`, so `watch_statements` sees them.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import Pool, PoolProxiedConnection, QueuePool
from sqlalchemy.util.concurrency import greenlet_spawn

from app.platform.driver import Driver


def _room(pool: Pool | None) -> bool:
    """Whether a checkin goes back into the queue (no connection is closed, so no I/O)."""
    return isinstance(pool, QueuePool) and pool.checkedin() < pool.size()


class pooled:  # used like a function: `async with pooled(engine) as driver:`
    """A `Driver` on a pooled connection for the block, outside any transaction."""

    __slots__ = ("connection", "engine", "pool")

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.pool: Pool | None = None  # the one the connection goes back to
        self.connection: PoolProxiedConnection | None = None

    async def __aenter__(self) -> Driver:
        """Check a connection out of the pool."""
        connection = self.connection = await self.engine.raw_connection()
        self.pool = self.engine.sync_engine.pool
        return Driver(connection.driver_connection)

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        """Give the connection back; one the server or the network closed is discarded."""
        connection, self.connection = self.connection, None
        if connection is not None:
            await give_back(connection, self.pool, error)


async def give_back(
    connection: PoolProxiedConnection, pool: Pool | None, error: BaseException | None = None
) -> None:
    """Return a connection checked out of `pool` (outside any transaction by now); one the
    server or the network closed is discarded, and so is every connection pooled before it
    (they were most likely closed with it), as SQLAlchemy does for a disconnect it sees."""
    if error is not None and connection.driver_connection.is_closed():
        if pool is not None:
            pool._invalidate(connection, error, _checkin=False)  # retire the older ones
        connection.invalidate(error)  # outside a greenlet: terminated without waiting
    if _room(pool):
        connection.close()
    else:
        await greenlet_spawn(connection.close)  # an overflow connection is closed


async def fetch(engine: AsyncEngine, sql: str, *args: Any) -> list[Any]:
    """The rows of one fixed read-only statement."""
    async with pooled(engine) as driver:
        return await driver.fetch(sql, *args)


async def fetch_keys(engine: AsyncEngine, sql: str, keys: Sequence[Any], *args: Any) -> list[Any]:
    """The rows of one fixed read-only statement for the array of `keys` in its `$1`
    (`Driver.fetch_keys`: one key is sent as a one-element array the plan can rely on)."""
    async with pooled(engine) as driver:
        return await driver.fetch_keys(sql, keys, *args)
