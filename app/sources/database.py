"""Database-backed format sources: the demo tables of app/models/formats.py.

One statement per table per call, for any number of members: a windowed listing (row_number
per member) for activity, one UNION ALL aggregate for usage. The unit is named by code and
resolved inside the statement, so a source needs no lookup of its own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Table, func, literal, select, tuple_, union_all
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.models import (
    BusinessUnit,
    ConvenienceOrder,
    HotelStay,
    MallReceipt,
    ParkingSession,
    PropertyBill,
)
from app.sources.base import (
    FORMAT_KINDS,
    FormatActivityCursor,
    FormatActivityItem,
    FormatActivityKind,
    FormatUsage,
    SourceUnavailable,
)

Describe = Callable[[Any], tuple[str, datetime | None, dict[str, Any]]]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class KindTable:
    """Where one kind of activity lives: its table, time and amount columns, and how a row
    reads as an item (description, end, kind-specific detail)."""

    kind: FormatActivityKind
    table: Table
    at: str
    amount: str
    describe: Describe


KIND_TABLES: dict[FormatActivityKind, KindTable] = {
    FormatActivityKind.STAY: KindTable(
        FormatActivityKind.STAY,
        HotelStay.__table__,
        "check_in",
        "amount",
        lambda r: (
            f"{r.nights} night{'s' if r.nights != 1 else ''}, {r.room_type.lower()} room",
            r.check_out,
            {"nights": r.nights, "roomType": r.room_type, "checkOut": _iso(r.check_out)},
        ),
    ),
    FormatActivityKind.PARKING: KindTable(
        FormatActivityKind.PARKING,
        ParkingSession.__table__,
        "entered_at",
        "fee",
        lambda r: (
            f"Parking {r.minutes} min ({r.plate})",
            r.exited_at,
            {"plate": r.plate, "minutes": r.minutes, "exitedAt": _iso(r.exited_at)},
        ),
    ),
    FormatActivityKind.RECEIPT: KindTable(
        FormatActivityKind.RECEIPT,
        MallReceipt.__table__,
        "issued_at",
        "amount",
        lambda r: (
            f"Receipt at {r.merchant_code or 'the mall'}",
            None,
            {"merchantCode": r.merchant_code, "category": r.category},
        ),
    ),
    FormatActivityKind.BILL: KindTable(
        FormatActivityKind.BILL,
        PropertyBill.__table__,
        "issued_at",
        "amount",
        lambda r: (
            f"{r.bill_type.replace('_', ' ').title()} bill {r.period}",
            r.paid_at,
            {"period": r.period, "billType": r.bill_type, "paidAt": _iso(r.paid_at)},
        ),
    ),
    FormatActivityKind.ORDER: KindTable(
        FormatActivityKind.ORDER,
        ConvenienceOrder.__table__,
        "ordered_at",
        "amount",
        lambda r: (
            f"{r.items} item{'s' if r.items != 1 else ''} at store {r.store_code}",
            None,
            {"storeCode": r.store_code, "items": r.items},
        ),
    ),
}


def after_cursor(spec: KindTable, unit: str, cursor: FormatActivityCursor) -> ColumnElement[bool]:
    """Rows of this table (all of one unit and kind) that sort after `cursor`, newest first."""
    at = spec.table.c[spec.at]
    mine, theirs = (unit, spec.kind.value), (cursor.unit, cursor.kind)
    if mine < theirs:
        return at <= cursor.occurred_at
    if mine > theirs:
        return at < cursor.occurred_at
    return tuple_(at, _ref(spec.table)) < tuple_(cursor.occurred_at, cursor.external_ref)


def _ref(table: Table) -> Any:
    """The unit's reference compared byte-wise, as Python compares strings (the database's
    own collation may order "R-2" and "R1" differently), so SQL pages and merges agree."""
    return table.c.external_ref.collate("C")


class DatabaseSource:
    """A unit's format data from this gateway's database."""

    implementation = "database"

    def __init__(
        self,
        *,
        unit: str,
        format: str,
        sessions: async_sessionmaker,
        record: Callable[[str, str], None] | None = None,
    ) -> None:
        if format not in FORMAT_KINDS:
            raise ValueError(f"no database tables for format {format!r}")
        self.unit = unit
        self.format = format
        self.tables = [KIND_TABLES[kind] for kind in FORMAT_KINDS[format]]
        self.sessions = sessions
        self.record = record or (lambda unit, outcome: None)

    def _unit_id(self) -> Any:
        return select(BusinessUnit.id).where(BusinessUnit.code == self.unit).scalar_subquery()

    async def activity(
        self, member_ids: Sequence[int], *, limit: int, before: FormatActivityCursor | None
    ) -> dict[int, list[FormatActivityItem]]:
        """Each member's items after `before`, newest first: one statement per table."""
        found: dict[int, list[FormatActivityItem]] = defaultdict(list)
        try:
            async with self.sessions() as session:
                for spec in self.tables:
                    for row in await session.execute(self._page(spec, member_ids, limit, before)):
                        found[row.member_id].append(self._item(spec, row))
        except Exception as error:
            self.record(self.unit, "error")
            raise SourceUnavailable(self.unit, type(error).__name__) from error
        self.record(self.unit, "ok")
        return {
            member_id: sorted(found[member_id], key=lambda i: i.cursor, reverse=True)[:limit]
            for member_id in member_ids
        }

    def _page(
        self,
        spec: KindTable,
        member_ids: Sequence[int],
        limit: int,
        before: FormatActivityCursor | None,
    ) -> Any:
        t = spec.table
        at = t.c[spec.at]
        rank = func.row_number().over(
            partition_by=t.c.member_id, order_by=(at.desc(), _ref(t).desc())
        )
        inner = select(t, rank.label("rank")).where(
            t.c.member_id.in_(list(member_ids)), t.c.business_unit_id == self._unit_id()
        )
        if before is not None:
            inner = inner.where(after_cursor(spec, self.unit, before))
        ranked = inner.subquery()
        return select(ranked).where(ranked.c.rank <= limit)

    def _item(self, spec: KindTable, row: Any) -> FormatActivityItem:
        description, ended_at, detail = spec.describe(row)
        return FormatActivityItem(
            member_id=row.member_id,
            unit=self.unit,
            kind=spec.kind,
            external_ref=row.external_ref,
            occurred_at=getattr(row, spec.at),
            amount=Decimal(getattr(row, spec.amount)),
            description=description,
            ended_at=ended_at,
            detail=detail,
        )

    async def usage(
        self, member_ids: Sequence[int], *, since: datetime, tz: ZoneInfo
    ) -> dict[int, FormatUsage]:
        """Spend, visits (distinct local days) and last visit since `since`: one statement."""
        parts = [
            select(
                spec.table.c.member_id.label("member_id"),
                spec.table.c[spec.at].label("at"),
                spec.table.c[spec.amount].label("amount"),
            ).where(
                spec.table.c.member_id.in_(list(member_ids)),
                spec.table.c.business_unit_id == self._unit_id(),
                spec.table.c[spec.at] > since,
            )
            for spec in self.tables
        ]
        rows = union_all(*parts).subquery()
        local_day = func.date(func.timezone(literal(str(tz)), rows.c.at))
        statement = select(
            rows.c.member_id,
            func.sum(rows.c.amount),
            func.count(local_day.distinct()),
            func.max(rows.c.at),
        ).group_by(rows.c.member_id)
        try:
            async with self.sessions() as session:
                result = {r[0]: r for r in (await session.execute(statement)).all()}
        except Exception as error:
            self.record(self.unit, "error")
            raise SourceUnavailable(self.unit, type(error).__name__) from error
        self.record(self.unit, "ok")
        usage: dict[int, FormatUsage] = {}
        for member_id in member_ids:
            row = result.get(member_id)
            usage[member_id] = (
                FormatUsage(spend=Decimal(row[1]), visits=int(row[2]), last_visit_at=row[3])
                if row
                else FormatUsage()
            )
        return usage

    async def aclose(self) -> None:
        """Nothing to release: sessions come from the gateway's pool."""
