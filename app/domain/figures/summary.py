"""The figures' summary tables, rebuilt from the ledger by `refresh_figures` (the job
`refresh-figures`), and `verify_figures`, which recomputes them in full and reports drift.

Why a job and not the ledger's own statement: docs/adr/0007-figures-from-summary-tables.md.
The tables hold what the ledger recorded before `refreshed_through`; a refresh rebuilds every
local day (and every local month) from the earliest of: the previous `refreshed_through` less
a margin (transactions still in flight then, committed since), and the day of the oldest
transaction it has not seen (by id, which catches a transaction recorded with an earlier time).

What a row counts (days and months are local, in the group's time zone; a transaction counts
on the day it was recorded):
- issued: points of new lots (not lots restored after expiry), by the lot's issuing unit, and
  their cost (points x cost per point);
- taken back: points refunds took back from lots (REFUND allocations), and their cost;
- expired: points taken from lots by expiry (EXPIRY allocations), by the lot's issuing unit;
- redeemed: points posted to a unit's REDEEMED account, net of cancellations (by the redeeming
  unit; owner 0 is the group's own account);
- outstanding change: points of new lots (restored ones too) less every allocation from lots
  (restorations count negative), by the issuing unit, and the same at cost: the sum over all
  days up to a date is the points outstanding in lots then;
- sales: order amounts of purchases that earned points at the unit, less refunded amounts;
- member months: per member and unit, the transactions there (not expiries or releases of
  pending points), visits (distinct days with an order that is not a reversal), spend (as
  sales) and the last visit;
- and, from the member months, each rebuilt month's overlap and RFM segments, its year's
  overlap, and the active members of each rebuilt month and its year
  (app.domain.figures.audience).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from app.domain.figures.audience import (
    snapshot_active,
    snapshot_month,
    snapshot_year,
    verify_snapshots,
)
from app.domain.figures.periods import months_back, parse_period
from app.domain.ledger.accounts import Account, AllocationKind, TxKind
from app.platform.uow import UnitOfWork

NAME = "figures"
MARGIN = timedelta(minutes=10)
_LOCK = 4_150_317  # advisory lock: one refresh at a time

# $1 time zone, $2 from (inclusive), $3 through (exclusive)
UNIT_DAYS = f"""WITH tx AS MATERIALIZED (
    SELECT id, (created_at AT TIME ZONE $1)::date AS day, business_unit_id, kind,
           order_amount, cny_value
    FROM points_transactions WHERE created_at >= $2 AND created_at < $3
), parts AS (
    SELECT tx.day, l.issuer_unit_id AS unit,
           sum(l.points) FILTER (WHERE l.origin_lot_id IS NULL) AS issued_points,
           sum(l.points * l.cost_per_point) FILTER (WHERE l.origin_lot_id IS NULL) AS issued_cost,
           0 AS taken_back_points, 0 AS taken_back_cost, 0 AS expired_points,
           0 AS redeemed_points, sum(l.points) AS outstanding_change,
           sum(l.points * l.cost_per_point) AS outstanding_cost_change, 0 AS sales
    FROM tx JOIN points_lots l ON l.transaction_id = tx.id
    GROUP BY 1, 2
    UNION ALL
    SELECT tx.day, l.issuer_unit_id, 0, 0,
           sum(a.points) FILTER (WHERE a.kind = '{AllocationKind.REFUND.value}'),
           sum(a.points * l.cost_per_point) FILTER (WHERE a.kind = '{AllocationKind.REFUND.value}'),
           sum(a.points) FILTER (WHERE a.kind = '{AllocationKind.EXPIRY.value}'),
           0, -sum(a.points), -sum(a.points * l.cost_per_point), 0
    FROM tx JOIN lot_allocations a ON a.transaction_id = tx.id
    JOIN points_lots l ON l.id = a.lot_id
    GROUP BY 1, 2
    UNION ALL
    SELECT tx.day, p.account_owner::int, 0, 0, 0, 0, 0, sum(p.points), 0, 0, 0
    FROM tx JOIN postings p ON p.transaction_id = tx.id
    WHERE p.account_kind = '{Account.REDEEMED.value}'
    GROUP BY 1, 2
    UNION ALL
    SELECT day, business_unit_id, 0, 0, 0, 0, 0, 0, 0, 0,
           coalesce(sum(order_amount) FILTER (WHERE kind = '{TxKind.EARN.value}'), 0)
           - coalesce(sum(cny_value) FILTER (WHERE kind = '{TxKind.EARN_REVERSAL.value}'), 0)
    FROM tx WHERE business_unit_id IS NOT NULL
      AND kind IN ('{TxKind.EARN.value}', '{TxKind.EARN_REVERSAL.value}')
    GROUP BY 1, 2
)
SELECT day, unit AS business_unit_id,
       coalesce(sum(issued_points), 0)::bigint AS issued_points,
       coalesce(sum(issued_cost), 0)::numeric(20, 6) AS issued_cost,
       coalesce(sum(taken_back_points), 0)::bigint AS taken_back_points,
       coalesce(sum(taken_back_cost), 0)::numeric(20, 6) AS taken_back_cost,
       coalesce(sum(expired_points), 0)::bigint AS expired_points,
       coalesce(sum(redeemed_points), 0)::bigint AS redeemed_points,
       coalesce(sum(outstanding_change), 0)::bigint AS outstanding_change,
       coalesce(sum(outstanding_cost_change), 0)::numeric(20, 6) AS outstanding_cost_change,
       coalesce(sum(sales), 0)::numeric(16, 2) AS sales
FROM parts GROUP BY 1, 2"""

_VISIT = "t.order_ref IS NOT NULL AND t.reverses_id IS NULL"
MEMBER_MONTHS = f"""SELECT date_trunc('month', t.created_at AT TIME ZONE $1)::date AS month,
       t.business_unit_id, t.member_id, count(*)::int AS transactions,
       (count(DISTINCT (t.created_at AT TIME ZONE $1)::date) FILTER (WHERE {_VISIT}))::int
           AS visits,
       (coalesce(sum(t.order_amount) FILTER (WHERE t.kind = '{TxKind.EARN.value}'), 0)
        - coalesce(sum(t.cny_value) FILTER (WHERE t.kind = '{TxKind.EARN_REVERSAL.value}'), 0)
       )::numeric(16, 2) AS spend,
       max(t.created_at) FILTER (WHERE {_VISIT}) AS last_visit_at
FROM points_transactions t
WHERE t.created_at >= $2 AND t.created_at < $3 AND t.business_unit_id IS NOT NULL
  AND t.kind NOT IN ('{TxKind.EXPIRY.value}', '{TxKind.RELEASE.value}')
GROUP BY 1, 2, 3"""

_UNIT_DAY_COLUMNS = (
    "day, business_unit_id, issued_points, issued_cost, taken_back_points, taken_back_cost,"
    " expired_points, redeemed_points, outstanding_change, outstanding_cost_change, sales"
)
_MEMBER_MONTH_COLUMNS = (
    "month, business_unit_id, member_id, transactions, visits, spend, last_visit_at"
)


@dataclass(frozen=True)
class Refresh:
    from_day: date | None  # None: rebuilt in full
    through: datetime
    last_transaction_id: int
    unit_days: int
    member_months: int


async def refreshed_through(uow: UnitOfWork) -> datetime | None:
    """How far the summary tables reach (exclusive); None before the first refresh."""
    return await (await uow.driver()).fetchval(
        "SELECT refreshed_through FROM figure_refreshes WHERE name = $1", NAME
    )


async def refresh_figures(uow: UnitOfWork, *, full: bool = False) -> Refresh:
    """Rebuild the summary tables up to `uow.now` (see the module's docstring); in full the
    first time or when asked. Safe to run twice or at once (they take turns)."""
    driver = await uow.driver()
    tz, through = str(uow.tz), uow.now
    await driver.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
    state = await driver.fetchrow(
        "SELECT refreshed_through, last_transaction_id FROM figure_refreshes WHERE name = $1",
        NAME,
    )
    last_id = await driver.fetchval("SELECT coalesce(max(id), 0) FROM points_transactions")
    from_day: date | None = None
    if state is not None and not full:
        unseen = await driver.fetchval(
            "SELECT min(created_at) FROM points_transactions WHERE id > $1",
            state["last_transaction_id"],
        )
        since = state["refreshed_through"] - MARGIN
        since = min(since, unseen) if unseen is not None else since
        from_day = since.astimezone(uow.tz).date()
    if from_day is None:
        day_from = month_from = datetime.combine(date(1970, 1, 1), time(), uow.tz)
        await driver.execute("DELETE FROM figure_unit_days")
        await driver.execute("DELETE FROM figure_member_months")
    else:
        day_from = datetime.combine(from_day, time(), uow.tz)
        month_from = datetime.combine(from_day.replace(day=1), time(), uow.tz)
        await driver.execute("DELETE FROM figure_unit_days WHERE day >= $1", from_day)
        await driver.execute(
            "DELETE FROM figure_member_months WHERE month >= $1", from_day.replace(day=1)
        )
    days = await driver.execute(
        f"INSERT INTO figure_unit_days ({_UNIT_DAY_COLUMNS}) {UNIT_DAYS}", tz, day_from, through
    )
    months = await driver.execute(
        f"INSERT INTO figure_member_months ({_MEMBER_MONTH_COLUMNS}) {MEMBER_MONTHS}",
        tz,
        month_from,
        through,
    )
    if from_day is None:
        await driver.execute("DELETE FROM figure_month_segments")
        await driver.execute("DELETE FROM figure_month_overlap")
        await driver.execute("DELETE FROM figure_year_overlap")
        await driver.execute("DELETE FROM figure_period_active")
        first = await driver.fetchval("SELECT min(month) FROM figure_member_months")
    else:
        first = from_day.replace(day=1)
    month, last = first, through.astimezone(uow.tz).date().replace(day=1)
    years = set()
    while month is not None and month <= last:
        await snapshot_month(uow, month)
        await snapshot_active(uow, parse_period(f"{month:%Y-%m}"))
        years.add(month.year)
        month = months_back(month, -1)
    for year in sorted(years):
        await snapshot_active(uow, parse_period(str(year)))
        await snapshot_year(uow, year)
    await driver.execute(
        """INSERT INTO figure_refreshes (name, refreshed_through, last_transaction_id, refreshed_at)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (name) DO UPDATE SET refreshed_through = excluded.refreshed_through,
            last_transaction_id = excluded.last_transaction_id,
            refreshed_at = excluded.refreshed_at""",
        NAME,
        through,
        last_id,
        uow.now,
    )
    return Refresh(from_day, through, last_id, _count(days), _count(months))


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1]) if status else 0


async def verify_figures(uow: UnitOfWork) -> list[str]:
    """Rows of the summary tables that differ from a full recomputation from the ledger up to
    `refreshed_through` (both ways: missing, extra or different); empty means they agree."""
    driver = await uow.driver()
    through = await refreshed_through(uow)
    if through is None:
        return []
    start = datetime.combine(date(1970, 1, 1), time(), uow.tz)
    problems: list[str] = []
    checks = (
        ("figure_unit_days", _UNIT_DAY_COLUMNS, UNIT_DAYS),
        ("figure_member_months", _MEMBER_MONTH_COLUMNS, MEMBER_MONTHS),
    )
    for table, cols, recompute in checks:
        stored = f"SELECT {cols} FROM {table}"
        fresh = f"SELECT {cols} FROM ({recompute}) r"
        for label, sql in (
            ("missing from", f"({fresh}) EXCEPT ({stored})"),
            ("not in the ledger but in", f"({stored}) EXCEPT ({fresh})"),
        ):
            for row in await driver.fetch(sql, str(uow.tz), start, through):
                problems.append(f"{table}: {label} the summary: {tuple(row)}")
    return problems + await verify_snapshots(uow)
