"""Per-request DataLoaders: each batch is one SQL statement, whatever the list size.

The reads are fixed SQL (arrays as `= ANY($1)`, so the text never varies and asyncpg's
prepared statements are reused) on a pooled connection outside any transaction (app.platform.reads),
and come back as light rows (app.graphql.core.rows).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import fields
from datetime import timedelta
from functools import cached_property
from typing import Any

from aiodataloader import DataLoader
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.ledger.accounts import LotState
from app.domain.mall.history import orders_of, rights_by_ids, vouchers_of
from app.domain.rights.wallet import wallets
from app.domain.tiers.growth import growth_values
from app.domain.tiers.standing import DEFAULT_TIER
from app.graphql.core.rows import (
    BalanceRow,
    BusinessUnitRow,
    MemberRow,
    MemberTierRow,
    ProgramRow,
    TierHistoryRow,
    TierRow,
    TransactionRow,
)
from app.models import MallItem, MallOrder, MemberRight, Program, Right
from app.platform import reads
from app.platform.driver import columns

TIER_HISTORY_LIMIT = 50
NOT_HELD: Any = object()  # `Loader.held`: nothing loaded or primed for the key yet

UNITS_SQL = f"SELECT {columns(BusinessUnitRow)} FROM business_units WHERE id = ANY($1::bigint[])"
# Members with their balances (no row yet: none): `me { points }` costs no statement more.
MEMBERS_SQL = (
    f"SELECT {columns(MemberRow, 'm')}, b.available, b.pending, b.debt FROM members m"
    " LEFT JOIN member_balances b ON b.member_id = m.id WHERE m.id = ANY($1::bigint[])"
)
BALANCES_SQL = (
    f"SELECT {columns(BalanceRow)} FROM member_balances WHERE member_id = ANY($1::bigint[])"
)
# Each member's newest `$2` transactions (below id `$3`; at unit `$4`, for a partner, which
# sees its own unit's only: app.domain.access.acts.transactions_seen_at): the (member_id,
# id DESC) index, read once per member, stopping at the limit; with each one's business unit,
# for the unit loader.
_PAGE = (
    f"SELECT {columns(TransactionRow, 't')}, {columns(BusinessUnitRow, 'u')}"
    " FROM unnest($1::bigint[]) AS m(id) CROSS JOIN LATERAL (SELECT * FROM points_transactions"
    " WHERE member_id = m.id{before}{unit} ORDER BY id DESC LIMIT $2) AS t"
    " LEFT JOIN business_units u ON u.id = t.business_unit_id ORDER BY t.member_id, t.id DESC"
)
_TX = len(fields(TransactionRow))  # where the unit's columns start
TRANSACTIONS_SQL = _PAGE.format(before="", unit="")
TRANSACTIONS_BEFORE_SQL = _PAGE.format(before=" AND id < $3", unit="")
# (before, at one unit) -> the statement; a fixed text per shape, so each keeps its plan
_PAGES = {
    (False, False): TRANSACTIONS_SQL,
    (True, False): TRANSACTIONS_BEFORE_SQL,
    (False, True): _PAGE.format(before="", unit=" AND business_unit_id = $3"),
    (True, True): _PAGE.format(before=" AND id < $3", unit=" AND business_unit_id = $4"),
}
# Points still available that expire in ($4, $5], summed per member and local date ($2: zone).
EXPIRING_SQL = (
    "SELECT member_id, date(timezone($2::text, expires_at)), min(expires_at), sum(remaining)"
    " FROM points_lots WHERE member_id = ANY($1::bigint[]) AND remaining > 0 AND state = $3"
    " AND expires_at > $4 AND expires_at <= $5 GROUP BY 1, 2 ORDER BY 1, 2"
)
TIERS_SQL = f"SELECT {columns(TierRow)} FROM tiers ORDER BY rank"
PROGRAM_SQL = f"SELECT {columns(ProgramRow)} FROM program WHERE id = 1"
MEMBER_TIERS_SQL = (
    f"SELECT {columns(MemberTierRow)} FROM member_tiers WHERE member_id = ANY($1::bigint[])"
)
TIER_HISTORY_SQL = (
    f"SELECT {columns(TierHistoryRow, 'h')} FROM unnest($1::bigint[]) AS m(id)"
    " CROSS JOIN LATERAL (SELECT * FROM tier_history"
    " WHERE member_id = m.id ORDER BY id DESC LIMIT $2) AS h"
    " ORDER BY h.member_id, h.id DESC"
)


# A DataLoader runs each batch as a task of its own (aiodataloader's dispatch), which outlives
# the resolvers awaiting it: a request stopped by its timeout would leave its batches reading
# on pooled connections. Each batch enters itself in its request's set (a context variable: the
# batch's task is created in the request's context), so the request can cancel what it started.
_RUNNING_BATCHES: ContextVar[set[asyncio.Task[Any]] | None] = ContextVar(
    "loader_batches", default=None
)
BATCH_CANCEL_GRACE_SECONDS = 2.0  # how long a stopped request waits for its batches to unwind


@contextmanager
def batches_of_this_request() -> Iterator[set[asyncio.Task[Any]]]:
    """The DataLoader batches started inside the block, while they run."""
    running: set[asyncio.Task[Any]] = set()
    token = _RUNNING_BATCHES.set(running)
    try:
        yield running
    finally:
        _RUNNING_BATCHES.reset(token)


async def cancel_batches(running: set[asyncio.Task[Any]]) -> None:
    """Cancel the batches still running and wait (briefly) until they have let go of their
    connections, so a stopped request leaves no read behind."""
    tasks = [task for task in running if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=BATCH_CANCEL_GRACE_SECONDS)


def tracked(batch_load_fn: Callable[[list[Any]], Awaitable[Any]]) -> Any:
    """`batch_load_fn` as a batch its request can cancel (see `batches_of_this_request`)."""

    async def load(keys: list[Any]) -> Any:
        running = _RUNNING_BATCHES.get()
        task = asyncio.current_task()
        if running is None or task is None:
            return await batch_load_fn(keys)
        running.add(task)
        try:
            return await batch_load_fn(keys)
        finally:
            running.discard(task)

    return load


class Loader(DataLoader):
    """A DataLoader that also tells, without waiting, a value it already holds: a resolver
    can then answer at once instead of awaiting (no coroutine, no task per list item). Its
    batches are cancelled with a request stopped by its timeout."""

    def __init__(self, batch_load_fn: Any) -> None:
        self.futures: dict[Any, Any] = {}
        super().__init__(tracked(batch_load_fn), cache_map=self.futures)

    def held(self, key: Any) -> Any:
        """The value loaded or primed for `key` in this request, else NOT_HELD."""
        future = self.futures.get(key)
        if future is None or not future.done() or future.cancelled():
            return NOT_HELD
        return NOT_HELD if future.exception() is not None else future.result()


class Loaders:
    """Built once per request in the context; cached for that request only. Each loader is
    made when first used (a request uses a few of them)."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.engine = ctx.services.sessions.kw["bind"]
        self.primed_units: set[int] = set()
        self.shown_units: dict[
            int, Any
        ] = {}  # the units as output objects (app.graphql.members.types)

    @cached_property
    def unit(self) -> Loader:
        return Loader(self._units)

    @cached_property
    def member(self) -> Loader:
        return Loader(self._members)

    @cached_property
    def balance(self) -> Loader:
        return Loader(self._balances)

    @cached_property
    def transactions(self) -> Loader:
        return Loader(self._transactions)

    @cached_property
    def expiring(self) -> Loader:
        return Loader(self._expiring)

    @cached_property
    def tier_ladder(self) -> Loader:
        return Loader(self._tier_ladder)

    @cached_property
    def member_tier(self) -> Loader:
        return Loader(self._member_tiers)

    @cached_property
    def growth(self) -> Loader:
        return Loader(self._growth)

    @cached_property
    def tier_history(self) -> Loader:
        return Loader(self._tier_history)

    @cached_property
    def wallet(self) -> Loader:
        return Loader(self._wallets)

    @cached_property
    def mall_orders(self) -> Loader:
        """Keys (member id, limit, before order id or None): newest orders with their items."""
        return Loader(self._mall_orders)

    @cached_property
    def mall_order_rights(self) -> Loader:
        return Loader(self._mall_order_rights)

    @cached_property
    def right(self) -> Loader:
        return Loader(self._rights)

    async def _mall_orders(
        self, keys: list[tuple[int, int, int | None]]
    ) -> list[list[tuple[MallOrder, MallItem]]]:
        """One statement per (limit, cursor) asked in the request: every member's page at once."""
        pages: dict[tuple[int, int | None], dict[int, list[tuple[MallOrder, MallItem]]]] = {}
        async with self._session() as session:
            for limit, before in sorted({(k[1], k[2]) for k in keys}, key=repr):
                members = [k[0] for k in keys if (k[1], k[2]) == (limit, before)]
                pages[(limit, before)] = await orders_of(
                    session, members, limit=limit, before_id=before
                )
        return [pages[(limit, before)][member] for member, limit, before in keys]

    async def _mall_order_rights(
        self, order_ids: list[int]
    ) -> list[list[tuple[MemberRight, Right]]]:
        async with self._session() as session:
            found = await vouchers_of(session, order_ids)
        return [found[order_id] for order_id in order_ids]

    async def _rights(self, right_ids: list[int]) -> list[Right | None]:
        async with self._session() as session:
            found = await rights_by_ids(session, right_ids)
        return [found.get(right_id) for right_id in right_ids]

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only, on an AUTOCOMMIT connection: no BEGIN and no ROLLBACK
        round trips around its statements (each loader reads its own snapshot anyway)."""
        async with self.ctx.services.sessions() as session:
            await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            yield session

    async def _fetch(self, sql: str, keys: list[Any], *args: Any) -> list[Any]:
        """The rows of one fixed statement for `keys` (its `$1`), outside any transaction."""
        return await reads.fetch_keys(self.engine, sql, keys, *args)

    async def _wallets(self, member_ids: list[int]) -> list[list[tuple[MemberRight, Right]]]:
        """Each member's rights with their catalogue entries, newest first: one statement."""
        async with self._session() as session:
            found = await wallets(session, member_ids)
        return [found[member_id] for member_id in member_ids]

    async def _units(self, ids: list[int]) -> list[BusinessUnitRow | None]:
        found = {r[0]: BusinessUnitRow(*r) for r in await self._fetch(UNITS_SQL, ids)}
        return [found.get(i) for i in ids]

    async def _members(self, ids: list[int]) -> list[MemberRow | None]:
        """Members by id; their balances go to the balance loader on the way."""
        found = {}
        for *member, available, pending, debt in await self._fetch(MEMBERS_SQL, ids):
            row = found[member[0]] = MemberRow(*member)
            balance = BalanceRow(row.id, available, pending, debt)
            self.balance.prime(row.id, balance if available is not None else BalanceRow(row.id))
        return [found.get(i) for i in ids]

    async def _balances(self, member_ids: list[int]) -> list[BalanceRow]:
        found = {r[0]: BalanceRow(*r) for r in await self._fetch(BALANCES_SQL, member_ids)}
        return [found.get(i) or BalanceRow(member_id=i) for i in member_ids]

    async def _transactions(
        self, keys: list[tuple[int, int, int | None, int | None]]
    ) -> list[list[TransactionRow]]:
        """keys: (member_id, limit, before_id, unit_id: None for every unit). One query per
        distinct (limit, before_id, unit_id)."""
        groups: dict[tuple[int, int | None, int | None], list[int]] = defaultdict(list)
        for member_id, limit, before, unit_id in keys:
            groups[(limit, before, unit_id)].append(member_id)
        pages: dict[tuple[int, int, int | None, int | None], list[TransactionRow]] = {}
        for (limit, before, unit_id), member_ids in groups.items():
            sql = _PAGES[(before is not None, unit_id is not None)]
            args = [a for a in (before, unit_id) if a is not None]
            rows = await self._fetch(sql, member_ids, limit, *args)
            by_member: dict[int, list[TransactionRow]] = defaultdict(list)
            for row in rows:
                by_member[row[0]].append(TransactionRow(*row[:_TX]))
                self._prime_unit(row, _TX)
            for member_id in member_ids:
                pages[(member_id, limit, before, unit_id)] = by_member.get(member_id, [])
        return [pages[key] for key in keys]

    def _prime_unit(self, row: Any, start: int) -> None:
        """Give the unit loader a unit read along with something else (columns from `start`)."""
        unit_id = row[start]
        if unit_id is not None and unit_id not in self.primed_units:
            self.primed_units.add(unit_id)
            self.unit.prime(unit_id, BusinessUnitRow(*row[start:]))

    async def _expiring(self, keys: list[tuple[int, int]]) -> list[list[tuple]]:
        """keys: (member_id, within_days) -> [(local expiry date, earliest instant, points)]."""
        groups: dict[int, list[int]] = defaultdict(list)
        for member_id, days in keys:
            groups[days].append(member_id)
        tz = self.ctx.settings.time_zone
        now = self.ctx.now()
        available = LotState.AVAILABLE.value
        result: dict[tuple[int, int], list[tuple]] = {}
        for days, member_ids in groups.items():
            rows = await self._fetch(
                EXPIRING_SQL, member_ids, tz, available, now, now + timedelta(days=days)
            )
            by_member: dict[int, list[tuple]] = defaultdict(list)
            for member_id, day, first_instant, points in rows:
                by_member[member_id].append((day, first_instant, int(points)))
            for member_id in member_ids:
                result[(member_id, days)] = by_member.get(member_id, [])
        return [result[key] for key in keys]

    async def _tier_ladder(self, keys: list[int]) -> list[tuple[list[Any], Any]]:
        """Any key -> (tiers lowest first, programme policies): two statements per request;
        the default ladder and policies when none are configured."""
        async with reads.pooled(self.engine) as driver:
            tiers = [TierRow(*r) for r in await driver.fetch(TIERS_SQL)] or [DEFAULT_TIER]
            program = await driver.fetchrow(PROGRAM_SQL)
        ladder = (tiers, ProgramRow(*program) if program else Program())
        return [ladder for _ in keys]

    async def _member_tiers(self, member_ids: list[int]) -> list[MemberTierRow | None]:
        found = {r[0]: MemberTierRow(*r) for r in await self._fetch(MEMBER_TIERS_SQL, member_ids)}
        return [found.get(i) for i in member_ids]

    async def _growth(self, member_ids: list[int]):
        """Growth value now, on the programme's basis: one statement for all the members."""
        _, program = await self.tier_ladder.load(0)
        async with self._session() as session:
            values = await growth_values(
                session,
                member_ids,
                at=self.ctx.now(),
                tz=self.ctx.settings.tz,
                basis=program.tier_basis,
            )
        return [values[i] for i in member_ids]

    async def _tier_history(self, member_ids: list[int]) -> list[list[TierHistoryRow]]:
        """Each member's latest tier changes, newest first (at most TIER_HISTORY_LIMIT)."""
        rows = await self._fetch(TIER_HISTORY_SQL, member_ids, TIER_HISTORY_LIMIT)
        by_member: dict[int, list[TierHistoryRow]] = defaultdict(list)
        for row in rows:
            by_member[row[1]].append(TierHistoryRow(*row))
        return [by_member.get(i, []) for i in member_ids]
