"""Closing a settlement month: the time to compute and store the statement of a month of
allocation rows, and to read it back once closed.

    .venv/bin/python scripts/bench_settlement.py [--allocations 100000] [--history-months 0]

In a database of its own (`bmg_bench_settlement` on DATABASE_URL's server), migrated, with the
demo group's units: a month (2026-05) of synthetic redemptions built with set-based SQL — one
earning per member and unit in April (six lots each), `--allocations` / 2 spends over May at
random units, two allocation rows each from two of the member's lots (so every funder meets
every redeemer, on merchant level at the mall), 1% of them cancelled in May (RESTORE rows) and
1% of the lots expired in May (EXPIRY rows). The rows are shaped as the ledger writes them,
but no balance is kept (settlement reads none). Then `close_settlement_period` for May (the
domain function the API and the job call) is timed twice on the same data, side by side:
"before", as the close ran before migration 0019 (no index on the journal's time, April not
closed, so the points outstanding are summed over all history), and "after" (the BRIN index on
`points_transactions.created_at`, April closed first and timed on its own, May's outstanding
points carried from it). The two May statements must be the same. Then reading the closed
statement back is timed.
`--history-months H` adds H months of as many spends before May (earnings H months earlier),
so the sums over all history have history to read. `scripts/bench --settlement N` runs it
and adds the line to its report; `--allocations
5000000` is the issue's month. A measurement, never a threshold.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.demo.organisation import seed_organisation  # noqa: E402
from app.domain.settlement.closing import close_settlement_period  # noqa: E402
from app.domain.settlement.periods import Period  # noqa: E402
from app.domain.settlement.statement import Statement  # noqa: E402
from app.domain.settlement.statements import stored_statement  # noqa: E402
from app.platform import migrate  # noqa: E402
from app.platform.db import make_engine, make_sessionmaker  # noqa: E402
from app.platform.uow import unit_of_work  # noqa: E402
from app.settings import Settings  # noqa: E402

NAME = "bmg_bench_settlement"
APRIL, MAY = Period(2026, 4), Period(2026, 5)
INDEX = "ix_points_transactions_created_at"

# $1 members, $2 spends; units 1-6 (the demo group's), merchants of the mall.
BUILD = [
    """INSERT INTO members (id, phone, display_name, registered_at, registered_via_unit_id,
        referral_code)
    SELECT m, '1' || lpad(m::text, 10, '0'), 'Bench ' || m, '2026-01-01+08', 1 + m % 6,
        'B' || m
    FROM generate_series(1, $1::int) AS m""",
    """INSERT INTO points_transactions (id, member_id, kind, source, rule, business_unit_id,
        points, debt_change, detail, caller, created_at)
    SELECT m * 6 + u - 6, m, 'EARN', 'ORDER', 'bench', u, 10000, 0, '{}', 'bench',
        '2026-04-10+08'::timestamptz - {history} * interval '1 month'
            + (m % 20) * interval '1 day'
    FROM generate_series(1, $1::int) AS m, generate_series(1, 6) AS u""",
    """INSERT INTO points_lots (id, member_id, transaction_id, issuer_unit_id, funder_unit_id,
        cost_per_point, points, remaining, state, earned_at, expires_at)
    SELECT t.id, t.member_id, t.id, t.business_unit_id,
        CASE WHEN t.id % 10 = 0 THEN NULL ELSE t.business_unit_id END, 0.01, 10000, 5000,
        'AVAILABLE', t.created_at, t.created_at + interval '1 year'
    FROM points_transactions t WHERE t.kind = 'EARN'""",
    # spends: ids after the earnings; member, redeemer and time spread over May, and as many
    # in each of the {history} months before it (the latest months first)
    """INSERT INTO points_transactions (id, member_id, kind, source, rule, business_unit_id,
        merchant_id, points, debt_change, detail, caller, created_at)
    SELECT $1::int * 6 + s, 1 + (s::bigint * 7919) % $1::int, 'SPEND', 'ORDER', 'bench', 1 + s % 6,
        CASE WHEN s % 6 = 0 THEN (SELECT min(id) FROM merchants) + (s / 6) % 6 END, -200, 0, '{}',
        'bench', '2026-05-01+08'::timestamptz - ((s - 1) / $2::int) * interval '1 month'
            + (((s - 1) % $2::int + 1) % 2678400) * interval '1 second'
    FROM generate_series(1, $2::int * ({history} + 1)) AS s""",
    "SELECT setval('points_transactions_id_seq', (SELECT max(id) FROM points_transactions))",
    "SELECT setval('points_lots_id_seq', (SELECT max(id) FROM points_lots))",
    """INSERT INTO postings (transaction_id, account_kind, account_owner, points)
    SELECT id, 'MEMBER_AVAILABLE', member_id, -200 FROM points_transactions WHERE kind = 'SPEND'
    UNION ALL
    SELECT id, 'REDEEMED', business_unit_id, 200 FROM points_transactions WHERE kind = 'SPEND'""",
    """INSERT INTO lot_allocations (transaction_id, lot_id, kind, points, cny_value)
    SELECT t.id, t.member_id * 6 - 6 + 1 + (t.id + k) % 6, 'SPEND', 100, 1.00
    FROM points_transactions t, generate_series(0, 1) AS k WHERE t.kind = 'SPEND'""",
    # 1% of the spends cancelled in May: a restore with the opposite posting and RESTORE rows
    """WITH cancelled AS (
        SELECT id, member_id, business_unit_id, merchant_id, created_at
        FROM points_transactions WHERE kind = 'SPEND' AND id % 100 = 0
    ), restore AS (
        INSERT INTO points_transactions (member_id, kind, source, rule, business_unit_id,
            merchant_id, points, reverses_id, debt_change, detail, caller, created_at)
        SELECT member_id, 'SPEND_REVERSAL', 'ORDER', 'bench', business_unit_id, merchant_id,
            200, id, 0, '{}', 'bench', least(created_at + interval '1 hour',
                '2026-05-31 23:59:59+08')
        FROM cancelled RETURNING id, reverses_id, business_unit_id, member_id
    ), legs AS (
        INSERT INTO postings (transaction_id, account_kind, account_owner, points)
        SELECT id, 'REDEEMED', business_unit_id, -200 FROM restore
        UNION ALL SELECT id, 'MEMBER_AVAILABLE', member_id, 200 FROM restore
    )
    INSERT INTO lot_allocations (transaction_id, lot_id, kind, points, cny_value,
        restores_allocation_id)
    SELECT r.id, a.lot_id, 'RESTORE', -a.points, -a.cny_value, a.id
    FROM restore r JOIN lot_allocations a ON a.transaction_id = r.reverses_id""",
    # 1% of the lots expired in May
    """WITH expired AS (
        INSERT INTO points_transactions (member_id, kind, source, rule, points, debt_change,
            detail, caller, created_at)
        SELECT member_id, 'EXPIRY', 'SYSTEM', 'bench:' || id, -100, 0, '{}', 'bench',
            '2026-05-20+08'
        FROM points_lots WHERE id % 100 = 7 RETURNING id, rule
    )
    INSERT INTO lot_allocations (transaction_id, lot_id, kind, points)
    SELECT id, split_part(rule, ':', 2)::bigint, 'EXPIRY', 100 FROM expired""",
    "ANALYZE",
]


def urls(base: str) -> tuple[str, str]:
    head, _, query = base.partition("?")
    server = head.rpartition("/")[0]
    tail = f"?{query}" if query else ""
    return f"{server}/postgres{tail}", f"{server}/{NAME}{tail}"


async def recreate(admin_url: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{NAME}"')
    finally:
        await conn.close()


async def measure(url: str, allocations: int, history: int = 0) -> dict:
    settings = Settings()
    engine = make_engine(url, pool_size=2)
    sessions = make_sessionmaker(engine)
    spends = max(allocations // 2, 1)
    members = max(spends // 20, 10)
    try:
        async with unit_of_work(sessions, tz=settings.tz) as uow:
            await seed_organisation(uow)
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            started = time.perf_counter()
            for sql in BUILD:
                args = [a for a, n in ((members, "$1"), (spends, "$2")) if n in sql]
                await conn.execute(sql.replace("{history}", str(history)), *args)
            built = time.perf_counter() - started
            rows = await conn.fetchval(
                "SELECT count(*) FROM lot_allocations a JOIN points_transactions t"
                " ON t.id = a.transaction_id WHERE t.created_at >= $1 AND t.created_at < $2",
                MAY.start(settings.tz),
                MAY.end(settings.tz),
            )
        finally:
            await conn.close()
        now = datetime(2026, 6, 2, tzinfo=UTC)

        async def close(period: Period) -> tuple[float, Statement]:
            started = time.perf_counter()
            async with unit_of_work(sessions, now=now, tz=settings.tz) as uow:
                statement = await close_settlement_period(uow, period=str(period), actor="bench")
            return time.perf_counter() - started, statement

        conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            # before: no index on the journal's time, no closed April
            await conn.execute(f"DROP INDEX {INDEX}")
            await conn.execute("ANALYZE points_transactions")
            before, statement_before = await close(MAY)
            await conn.execute("DELETE FROM settlement_periods")
            # after: the index (migration 0019), April closed, May carried from it
            await conn.execute(
                f"CREATE INDEX {INDEX} ON points_transactions USING brin (created_at)"
            )
            await conn.execute("ANALYZE points_transactions")
            april = 0.0
            for back in range(history + 1, 0, -1):  # the months before May, in order
                earlier = MAY
                for _ in range(back):
                    earlier = earlier.previous()
                april, _ = await close(earlier)  # the last: April
            closed, statement = await close(MAY)
            plan = await conn.fetch(
                "EXPLAIN SELECT count(*) FROM points_transactions"
                " WHERE created_at >= $1 AND created_at < $2",
                MAY.start(settings.tz),
                MAY.end(settings.tz),
            )
        finally:
            await conn.close()
        assert statement.parties == statement_before.parties
        assert statement.lines == statement_before.lines
        started = time.perf_counter()
        async with unit_of_work(sessions, now=now, tz=settings.tz) as uow:
            again = await stored_statement(uow, MAY)
        read = time.perf_counter() - started
        assert again == statement
        assert sum(p.net_amount for p in statement.parties) == 0
        return {
            "allocations": rows,
            "lines": len(statement.lines),
            "build_seconds": round(built, 1),
            "close_before_seconds": round(before, 2),
            "close_april_seconds": round(april, 2),
            "close_seconds": round(closed, 2),
            "read_ms": round(read * 1000, 1),
            "cleared": str(sum(p.receivable_amount for p in statement.parties)),
            "month_scan": " / ".join(row[0].strip() for row in plan),
        }
    finally:
        await engine.dispose()


def run(database_url: str, allocations: int, history: int = 0) -> dict:
    admin_url, url = urls(database_url)
    asyncio.run(recreate(admin_url))
    with ThreadPoolExecutor(1) as pool:
        pool.submit(migrate.upgrade, url).result()
    return asyncio.run(measure(url, allocations, history))


def line(figure: dict) -> str:
    return (
        f"Settlement: closing a month of {figure['allocations']:,} allocation rows took"
        f" {figure['close_seconds']} s with the previous month closed and the time index"
        f" ({figure['close_before_seconds']} s before: no index, outstanding points over all"
        f" history; closing the previous month {figure['close_april_seconds']} s)"
        f" ({figure['lines']} lines, {figure['cleared']} CNY cleared; built in"
        f" {figure['build_seconds']} s); reading it closed {figure['read_ms']} ms;"
        f" the month's scan: {figure['month_scan']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--allocations", type=int, default=100_000)
    parser.add_argument(
        "--history-months",
        type=int,
        default=0,
        help="months of as many spends before May (the all-history sums read them)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    args = parser.parse_args()
    figure = run(args.database_url, args.allocations, args.history_months)
    print(line(figure))


if __name__ == "__main__":
    main()
