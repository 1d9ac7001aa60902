"""Fixed SQL text sent straight to asyncpg, for the hot paths.

Building a SQLAlchemy statement, compiling it and loading ORM objects costs ten times the CPU
of the round trip itself; the hottest reads and writes therefore send fixed SQL (arrays as
`= ANY($1)`, so the text never varies and asyncpg's prepared-statement cache always hits) on
the same pooled connection and in the same transaction as the session around them.

`Driver` wraps the asyncpg connection so that every statement is seen by `watch_statements`
(tests pin statement counts, the benchmark prints them), as SQLAlchemy's events see its own.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import configure_mappers

T = TypeVar("T")

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

    async def fetch_keys(self, sql: str, keys: Sequence[Any], *args: Any) -> list[Any]:
        """The rows of `sql` for the array of `keys` in its `$1`; for one key (the usual
        batch) the statement's `one_key` form, whose generic plan PostgreSQL keeps."""
        if len(keys) == 1:
            return await self.fetch(one_key(sql), keys[0], *args)
        return await self.fetch(sql, list(keys), *args)

    def is_in_transaction(self) -> bool:
        return self.connection.is_in_transaction()


_ARRAY_PARAMETER = re.compile(r"\$1::(\w+)\[\]")
_one_key: dict[str, str] = {}


def one_key(sql: str) -> str:
    """`sql` with its array parameter `$1::type[]` taken as one element, `ARRAY[$1::type]`.

    A prepared statement is planned for its values (a custom plan) until PostgreSQL finds a
    plan for any values (a generic plan) as cheap, and then reuses that plan. For an array
    parameter a generic plan must guess ten elements, so it never looks as cheap as the plan
    for the one key most batches hold, and each execution was planned again: 0.1 to 0.2 ms of
    PostgreSQL CPU a statement. With one element written in the text, both plans agree."""
    found = _one_key.get(sql)
    if found is None:
        found, count = _ARRAY_PARAMETER.subn(r"ARRAY[$1::\1]", sql)
        if count == 0:
            raise ValueError("the statement has no $1::type[] parameter")
        _one_key[sql] = found
    return found


async def driver_connection(session: AsyncSession) -> Driver:
    """The asyncpg connection behind `session`. Inside a session's transaction the transaction
    is begun first if the session has not sent anything yet, so raw statements always join it;
    on an AUTOCOMMIT connection they run as they are."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    options = connection.sync_connection.get_execution_options()  # type: ignore[union-attr]
    if not driver.is_in_transaction() and options.get("isolation_level") != "AUTOCOMMIT":
        await _begin(connection, raw.dbapi_connection)
    return Driver(driver)


async def _begin(connection: Any, adapter: Any) -> None:
    """Begin SQLAlchemy's transaction now. Its asyncpg adapter begins lazily, before its first
    statement: starting it here sends BEGIN alone (as SQLAlchemy would), not a statement more;
    an adapter of another shape gets a `SELECT 1` that makes SQLAlchemy begin."""
    if getattr(adapter, "_start_transaction", None) is not None:
        if getattr(adapter, "_transaction", False) is None:
            await begin_adapter(adapter)
        return
    await connection.exec_driver_sql("SELECT 1")


async def begin_adapter(adapter: Any) -> None:
    """Begin the transaction of SQLAlchemy's asyncpg adapter (`dbapi_connection` of a pooled
    connection): BEGIN alone, and the adapter knows it is in a transaction, so statements a
    session sends on the same connection join it and its commit ends it."""
    async with adapter._execute_mutex:
        await adapter._start_transaction()


async def end_adapter(adapter: Any, how: str) -> None:
    """End (`how`: "commit" or "rollback") the transaction `begin_adapter` began, unless the
    adapter has none any more (a session's commit ended it); the adapter then knows it is
    outside a transaction, so the pool's reset on return sends nothing."""
    transaction = getattr(adapter, "_transaction", None)
    if transaction is not None:
        await adapter._call_and_discard(getattr(transaction, how))


def entity(model: type[T], row: Mapping[str, Any]) -> T:
    """A `model` instance holding a row's values of the model's columns (other keys are
    ignored), built the way a query loads one (no constructor, no validation) but in no
    session: a value that sends nothing when its attributes are read."""
    names = _names.get(model)
    if names is None:
        configure_mappers()
        names = _names[model] = tuple(c.name for c in model.__table__.columns)  # type: ignore[attr-defined]
    instance = model._sa_class_manager.new_instance()  # type: ignore[attr-defined]
    instance.__dict__.update({name: row[name] for name in names})
    return instance


_names: dict[type, tuple[str, ...]] = {}


def columns(model: type, alias: str | None = None) -> str:
    """The comma-separated column names (qualified by `alias`) for fixed SQL built once at
    import: of a table model, whose rows `entity` turns back into instances, or of a dataclass
    of light rows, its fields in order, whose rows `Row(*record)` builds."""
    prefix = f"{alias}." if alias else ""
    if dataclasses.is_dataclass(model):
        names = [field.name for field in dataclasses.fields(model)]
    else:
        names = [column.name for column in model.__table__.columns]  # type: ignore[attr-defined]
    return ", ".join(prefix + name for name in names)
