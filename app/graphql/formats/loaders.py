"""Per-request DataLoaders for format data: one source call per unit per batch, whatever the
number of members, and a unit's failure given to that unit's keys only.

They hang off the request's `Loaders` (`source_loaders(ctx)`), so they are renewed with them
(per request, per websocket operation).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from aiodataloader import DataLoader

from app.domain.ledger.accounts import TxKind
from app.domain.mall.history import MEMBER_MALL_SQL
from app.domain.tiers.growth import window_start
from app.graphql.core.loaders import tracked
from app.graphql.core.rows import BusinessUnitRow
from app.platform import reads
from app.platform.driver import columns
from app.sources import FormatActivityCursor, FormatActivityItem, FormatUsage, SourceUnavailable

FormatActivityKey = tuple[str, int, int, FormatActivityCursor | None]  # unit, member, limit, before

ALL_UNITS_SQL = f"SELECT {columns(BusinessUnitRow)} FROM business_units ORDER BY id"
_EARNED = f"kind IN ('{TxKind.EARN.value}', '{TxKind.EARN_REVERSAL.value}')"
_REDEEMED = "kind IN ({})".format(
    ", ".join(
        f"'{kind.value}'"
        for kind in (
            TxKind.SPEND,
            TxKind.SPEND_REVERSAL,
            TxKind.RIGHT_PURCHASE,
            TxKind.RIGHT_REFUND,
            TxKind.MALL_ORDER,
            TxKind.MALL_CANCEL,
        )
    )
)
# Per member and unit, in ($2, $3]: points earned net of refunds, redeemed (at a till or for the
# unit's rights) net of cancellations and returns; spend through the programme (order amounts of
# purchases that earned points, less refunds) and visits (distinct days, group time $4, with an
# order that is not a reversal), as the figures count them (app.domain.figures.summary).
_VISIT = "order_ref IS NOT NULL AND reverses_id IS NULL"
UNIT_POINTS_SQL = (
    f"SELECT member_id, business_unit_id, coalesce(sum(points) FILTER (WHERE {_EARNED}), 0),"
    f" coalesce(sum(-points) FILTER (WHERE {_REDEEMED}), 0),"
    f" coalesce(sum(order_amount) FILTER (WHERE kind = '{TxKind.EARN.value}'), 0)"
    f" - coalesce(sum(cny_value) FILTER (WHERE kind = '{TxKind.EARN_REVERSAL.value}'), 0),"
    f" count(DISTINCT (created_at AT TIME ZONE $4)::date) FILTER (WHERE {_VISIT})"
    " FROM points_transactions"
    " WHERE member_id = ANY($1::bigint[]) AND business_unit_id IS NOT NULL"
    " AND created_at > $2 AND created_at <= $3 GROUP BY member_id, business_unit_id"
)


class UnitLedger(NamedTuple):
    """A member's year at one unit, from the ledger."""

    earned: int
    redeemed: int
    spend: Decimal
    visits: int


NO_LEDGER = UnitLedger(0, 0, Decimal("0.00"), 0)


class UnitMall(NamedTuple):
    """A member's mall orders of one supplying unit's items (MEMBER_MALL_SQL)."""

    orders: int
    points_spent: int
    open_orders: int
    last_order_at: datetime | None


class SourceLoaders:
    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.all_units = DataLoader(tracked(self._all_units))
        self.activity = DataLoader(tracked(self._activity))
        self.usage = DataLoader(tracked(self._usage))
        self.unit_points = DataLoader(tracked(self._unit_points))
        self.unit_mall = DataLoader(tracked(self._unit_mall))

    async def _all_units(self, keys: list[int]) -> list[list[BusinessUnitRow]]:
        """Every business unit by id (one statement); also primes the per-id unit loader."""
        engine = self.ctx.services.sessions.kw["bind"]
        units = [BusinessUnitRow(*row) for row in await reads.fetch(engine, ALL_UNITS_SQL)]
        for unit in units:
            self.ctx.loaders.unit.prime(unit.id, unit)
        return [units for _ in keys]

    async def _activity(
        self, keys: list[FormatActivityKey]
    ) -> list[list[FormatActivityItem] | Exception]:
        """Grouped by (unit, limit, cursor): one source call per group, groups concurrently."""
        groups: dict[tuple[str, int, FormatActivityCursor | None], list[int]] = defaultdict(list)
        for unit, member_id, limit, before in keys:
            groups[(unit, limit, before)].append(member_id)

        def call(group: tuple[str, int, FormatActivityCursor | None], ids: list[int]) -> Awaitable:
            unit, limit, before = group
            return self._source(unit).activity(ids, limit=limit, before=before)

        results = await _per_group(groups, call)
        return [_pick(results[(u, limit, before)], m) for u, m, limit, before in keys]

    async def _usage(self, keys: list[tuple[str, int]]) -> list[FormatUsage | Exception]:
        """(unit, member) -> usage in the overview window: one source call per unit."""
        groups: dict[str, list[int]] = defaultdict(list)
        for unit, member_id in keys:
            groups[unit].append(member_id)
        since, tz = self.window_start(), self.ctx.settings.tz

        def call(unit: str, ids: list[int]) -> Awaitable:
            return self._source(unit).usage(ids, since=since, tz=tz)

        results = await _per_group(groups, call)
        return [_pick(results[unit], member_id) for unit, member_id in keys]

    def window_start(self) -> datetime:
        """Start (exclusive) of the overview's 12 months: the tier growth window."""
        return window_start(self.ctx.now(), self.ctx.settings.tz)

    async def _unit_points(self, member_ids: list[int]) -> list[dict[int, UnitLedger]]:
        """Per member, per unit id: points earned and redeemed, spend and visits in the
        overview window, from the ledger (UNIT_POINTS_SQL): one statement."""
        engine = self.ctx.services.sessions.kw["bind"]
        rows = await reads.fetch_keys(
            engine,
            UNIT_POINTS_SQL,
            member_ids,
            self.window_start(),
            self.ctx.now(),
            str(self.ctx.settings.tz),
        )
        found: dict[int, dict[int, UnitLedger]] = defaultdict(dict)
        for member_id, unit_id, points_in, points_out, spend, visits in rows:
            found[member_id][unit_id] = UnitLedger(
                int(points_in), int(points_out), Decimal(spend), int(visits)
            )
        return [found.get(i, {}) for i in member_ids]

    async def _unit_mall(self, member_ids: list[int]) -> list[dict[int, UnitMall]]:
        """Per member, per supplying unit id: mall orders in the overview window, the points
        they kept, open orders, the last order (MEMBER_MALL_SQL): one statement."""
        engine = self.ctx.services.sessions.kw["bind"]
        rows = await reads.fetch_keys(engine, MEMBER_MALL_SQL, member_ids, self.window_start())
        found: dict[int, dict[int, UnitMall]] = defaultdict(dict)
        for member_id, unit_id, orders, points, open_orders, last_at in rows:
            found[member_id][unit_id] = UnitMall(
                int(orders), int(points), int(open_orders), last_at
            )
        return [found.get(i, {}) for i in member_ids]

    def _source(self, unit: str):
        source = self.ctx.services.sources.get(unit)
        if source is None:
            raise SourceUnavailable(unit, "no data source configured")
        return source


async def _per_group(groups: dict, call: Callable[..., Awaitable]) -> dict[Any, Any]:
    """Run one call per group concurrently; a group's exception becomes its result."""
    names = list(groups)
    outcomes = await asyncio.gather(
        *(_guard(name, call, groups[name]) for name in names), return_exceptions=False
    )
    return dict(zip(names, outcomes, strict=True))


async def _guard(name: Any, call: Callable[..., Awaitable], ids: list[int]) -> Any:
    unit = name[0] if isinstance(name, tuple) else name
    try:
        return await call(name, ids)
    except SourceUnavailable as error:
        return error
    except Exception as error:  # a source must not take the other units down with it
        return SourceUnavailable(unit, type(error).__name__)


def _pick(result: Any, member_id: int) -> Any:
    return result if isinstance(result, Exception) else result[member_id]


def source_loaders(ctx: Any) -> SourceLoaders:
    """This request's source loaders (made on first use, renewed with ctx.loaders)."""
    loaders = getattr(ctx.loaders, "format_sources", None)
    if loaders is None:
        loaders = SourceLoaders(ctx)
        ctx.loaders.format_sources = loaders
    return loaders
