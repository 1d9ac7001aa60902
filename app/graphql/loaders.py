"""Per-request DataLoaders: each batch is one SQL statement, whatever the list size."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from aiodataloader import DataLoader
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.growth import growth_values
from app.domain.ledger import LotState
from app.domain.tiers import load_tiers
from app.domain.units import get_program
from app.models import (
    BusinessUnit,
    Member,
    MemberBalance,
    MemberTier,
    PointsLot,
    PointsTransaction,
    Program,
    Tier,
    TierHistory,
)

TIER_HISTORY_LIMIT = 50


class Loaders:
    """Built once per request in the context; cached for that request only."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.unit = DataLoader(self._units)
        self.member = DataLoader(self._members)
        self.balance = DataLoader(self._balances)
        self.transactions = DataLoader(self._transactions)
        self.expiring = DataLoader(self._expiring)
        self.tier_ladder = DataLoader(self._tier_ladder)
        self.member_tier = DataLoader(self._member_tiers)
        self.growth = DataLoader(self._growth)
        self.tier_history = DataLoader(self._tier_history)

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only, on an AUTOCOMMIT connection: no BEGIN and no ROLLBACK
        round trips around its statements (each loader reads its own snapshot anyway)."""
        async with self.ctx.services.sessions() as session:
            await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            yield session

    async def _read(self, statement):
        async with self._session() as session:
            return (await session.execute(statement)).all()

    async def _units(self, ids: list[int]) -> list[BusinessUnit | None]:
        rows = await self._read(select(BusinessUnit).where(BusinessUnit.id.in_(ids)))
        found = {row[0].id: row[0] for row in rows}
        return [found.get(i) for i in ids]

    async def _members(self, ids: list[int]) -> list[Member | None]:
        rows = await self._read(select(Member).where(Member.id.in_(ids)))
        found = {row[0].id: row[0] for row in rows}
        return [found.get(i) for i in ids]

    async def _balances(self, member_ids: list[int]) -> list[MemberBalance]:
        rows = await self._read(
            select(MemberBalance).where(MemberBalance.member_id.in_(member_ids))
        )
        found = {row[0].member_id: row[0] for row in rows}
        return [found.get(i) or MemberBalance(member_id=i) for i in member_ids]

    async def _transactions(self, keys: list[tuple[int, int, int | None]]) -> list[list]:
        """keys: (member_id, limit, before_id). One query per distinct (limit, before_id)."""
        groups: dict[tuple[int, int | None], list[int]] = defaultdict(list)
        for member_id, limit, before in keys:
            groups[(limit, before)].append(member_id)
        pages: dict[tuple[int, int, int | None], list] = {}
        for (limit, before), member_ids in groups.items():
            rank = (
                func.row_number()
                .over(
                    partition_by=PointsTransaction.member_id, order_by=PointsTransaction.id.desc()
                )
                .label("rank")
            )
            inner = select(PointsTransaction.id, rank).where(
                PointsTransaction.member_id.in_(member_ids)
            )
            if before is not None:
                inner = inner.where(PointsTransaction.id < before)
            ranked = inner.subquery()
            rows = await self._read(
                select(PointsTransaction)
                .join(ranked, ranked.c.id == PointsTransaction.id)
                .where(ranked.c.rank <= limit)
                .order_by(PointsTransaction.member_id, PointsTransaction.id.desc())
            )
            by_member: dict[int, list] = defaultdict(list)
            for (tx,) in rows:
                by_member[tx.member_id].append(tx)
            for member_id in member_ids:
                pages[(member_id, limit, before)] = by_member.get(member_id, [])
        return [pages[key] for key in keys]

    async def _expiring(self, keys: list[tuple[int, int]]) -> list[list[tuple]]:
        """keys: (member_id, within_days) -> [(local expiry date, earliest instant, points)]."""
        groups: dict[int, list[int]] = defaultdict(list)
        for member_id, days in keys:
            groups[days].append(member_id)
        tz = self.ctx.settings.time_zone
        now = self.ctx.now()
        result: dict[tuple[int, int], list[tuple]] = {}
        for days, member_ids in groups.items():
            local_day = func.date(func.timezone(tz, PointsLot.expires_at))
            rows = await self._read(
                select(
                    PointsLot.member_id,
                    local_day,
                    func.min(PointsLot.expires_at),
                    func.sum(PointsLot.remaining),
                )
                .where(
                    PointsLot.member_id.in_(member_ids),
                    PointsLot.remaining > 0,
                    PointsLot.state == LotState.AVAILABLE.value,
                    PointsLot.expires_at > now,
                    PointsLot.expires_at <= now + timedelta(days=days),
                )
                .group_by(PointsLot.member_id, local_day)
                .order_by(PointsLot.member_id, local_day)
            )
            by_member: dict[int, list[tuple]] = defaultdict(list)
            for member_id, day, first_instant, points in rows:
                by_member[member_id].append((day, first_instant, int(points)))
            for member_id in member_ids:
                result[(member_id, days)] = by_member.get(member_id, [])
        return [result[key] for key in keys]

    async def _tier_ladder(self, keys: list[int]) -> list[tuple[list[Tier], Program]]:
        """Any key -> (tiers lowest first, programme policies): two statements per request."""
        async with self._session() as session:
            ladder = (await load_tiers(session), await get_program(session))
        return [ladder for _ in keys]

    async def _member_tiers(self, member_ids: list[int]) -> list[MemberTier | None]:
        rows = await self._read(select(MemberTier).where(MemberTier.member_id.in_(member_ids)))
        found = {row[0].member_id: row[0] for row in rows}
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

    async def _tier_history(self, member_ids: list[int]) -> list[list[TierHistory]]:
        """Each member's latest tier changes, newest first (at most TIER_HISTORY_LIMIT)."""
        rank = (
            func.row_number()
            .over(partition_by=TierHistory.member_id, order_by=TierHistory.id.desc())
            .label("rank")
        )
        ranked = (
            select(TierHistory.id, rank).where(TierHistory.member_id.in_(member_ids)).subquery()
        )
        rows = await self._read(
            select(TierHistory)
            .join(ranked, ranked.c.id == TierHistory.id)
            .where(ranked.c.rank <= TIER_HISTORY_LIMIT)
            .order_by(TierHistory.member_id, TierHistory.id.desc())
        )
        by_member: dict[int, list[TierHistory]] = defaultdict(list)
        for (change,) in rows:
            by_member[change.member_id].append(change)
        return [by_member.get(i, []) for i in member_ids]
