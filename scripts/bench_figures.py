"""The figures' speed: the refresh job and every figures query on a data set of a given size.

    .venv/bin/python scripts/bench_figures.py [--members 10000] [--lots 20] [--runs 5] [--reuse]

In a database of its own (`bmg_bench_figures` on DATABASE_URL's server): `--members` members
with `--lots` purchases each, spread over the six units and the last 12 months (a quarter of
the lots spent at the unit that issued them, every tenth member referred by the one before),
written by set-based SQL. Then, timed: a full rebuild of the summary tables, an incremental
refresh, and each figures query through its domain function (the median of `--runs`), beside
the same programme figures computed from the ledger directly (what a query would cost without
the summary tables). The issue's data set is `--members 100000 --lots 20` (2,000,000 lots);
the default is small because the machines it runs on are shared. `scripts/bench --figures N`
runs it with N members and adds its table to the report. `--reuse` measures again on the data
set of the last run (its migrations applied) instead of generating one. Measurements, never
thresholds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.demo.organisation import seed_organisation  # noqa: E402
from app.domain.figures import audience, expiring, referrals  # noqa: E402
from app.domain.figures.periods import parse_period  # noqa: E402
from app.domain.figures.programme import CostBand, programme_figures  # noqa: E402
from app.domain.figures.summary import UNIT_DAYS, refresh_figures  # noqa: E402
from app.platform import migrate  # noqa: E402
from app.platform.db import make_engine, make_sessionmaker  # noqa: E402
from app.platform.uow import unit_of_work  # noqa: E402
from app.settings import Settings  # noqa: E402

NAME = "bmg_bench_figures"
NOW = datetime(2026, 6, 15, 4, 0, tzinfo=UTC)

# {members}, {lots}, {units} (an int[] literal) formatted in: integers only.
DATA = [
    """INSERT INTO members (id, phone, display_name, registered_at, registered_via_unit_id,
                           referral_code, referred_by_id)
       SELECT g, (15000000000 + g)::text, 'Bench member ' || g,
              '2026-06-15T04:00Z'::timestamptz - make_interval(days => g % 400),
              ('{units}'::int[])[1 + g % 6], 'F' || lpad(upper(to_hex(g)), 7, '0'),
              CASE WHEN g % 10 = 0 THEN g - 1 END
       FROM generate_series(1, {members}) g""",
    """INSERT INTO points_transactions (id, member_id, kind, source, rule, business_unit_id,
              order_ref, order_amount, points, debt_change, detail, caller, created_at)
       SELECT (m - 1) * {lots} + k, m, 'EARN', 'ORDER', 'bench',
              ('{units}'::int[])[1 + (m + k) % 6],
              'F-' || m || '-' || k, 50.00, 50, 0, '{{}}'::jsonb, 'bench',
              '2026-06-15T04:00Z'::timestamptz - make_interval(days => (m * 7 + k * 17) % 360)
       FROM generate_series(1, {members}) m, generate_series(1, {lots}) k""",
    """INSERT INTO postings (transaction_id, account_kind, account_owner, points)
       SELECT t.id, a.kind,
              CASE WHEN a.kind = 'ISSUED' THEN t.business_unit_id ELSE t.member_id END,
              CASE WHEN a.kind = 'ISSUED' THEN -50 ELSE 50 END
       FROM points_transactions t
       CROSS JOIN (VALUES ('MEMBER_AVAILABLE'), ('ISSUED')) AS a(kind)""",
    """INSERT INTO points_lots (id, member_id, transaction_id, issuer_unit_id, funder_unit_id,
              cost_per_point, points, remaining, state, earned_at, expires_at)
       SELECT t.id, t.member_id, t.id, t.business_unit_id, t.business_unit_id, 0.01, 50,
              CASE WHEN t.id % 4 = 0 THEN 0 ELSE 50 END, 'AVAILABLE', t.created_at,
              t.created_at + interval '12 months'
       FROM points_transactions t""",
    # a quarter of the lots spent a day later at the unit that issued them
    """INSERT INTO points_transactions (id, member_id, kind, source, rule, business_unit_id,
              order_ref, order_amount, points, debt_change, detail, caller, created_at)
       SELECT {members} * {lots} + l.id, l.member_id, 'SPEND', 'ORDER', 'bench',
              l.issuer_unit_id, 'FS-' || l.id, 20.00, -50, 0, '{{}}'::jsonb, 'bench',
              least(l.earned_at + interval '1 day', '2026-06-15T03:00Z'::timestamptz)
       FROM points_lots l WHERE l.remaining = 0""",
    """INSERT INTO postings (transaction_id, account_kind, account_owner, points)
       SELECT t.id, a.kind,
              CASE WHEN a.kind = 'REDEEMED' THEN t.business_unit_id ELSE t.member_id END,
              CASE WHEN a.kind = 'REDEEMED' THEN 50 ELSE -50 END
       FROM points_transactions t
       CROSS JOIN (VALUES ('MEMBER_AVAILABLE'), ('REDEEMED')) AS a(kind)
       WHERE t.kind = 'SPEND'""",
    """INSERT INTO lot_allocations (transaction_id, lot_id, kind, points)
       SELECT t.id, t.id - {members} * {lots}, 'SPEND', 50
       FROM points_transactions t WHERE t.kind = 'SPEND'""",
    """INSERT INTO member_balances (member_id, available, pending, debt)
       SELECT m.id, coalesce(sum(l.remaining), 0), 0, 0
       FROM members m LEFT JOIN points_lots l ON l.member_id = m.id GROUP BY m.id""",
]
# The expiringPoints page as it was before the page's members were found first (grouping every
# lot of the window, then a LIMIT): timed beside the current one on the same data.
WHOLE_WINDOW = """WITH days AS (
    SELECT member_id, (expires_at AT TIME ZONE $1)::date AS day, min(expires_at) AS first_at,
           sum(remaining) AS points
    FROM points_lots
    WHERE remaining > 0 AND state = 'AVAILABLE' AND expires_at > $2 AND expires_at <= $3
      AND member_id > $4
    GROUP BY 1, 2
)
SELECT member_id, sum(points) AS points, min(first_at) AS first_at,
       array_agg(day ORDER BY day) AS days, array_agg(points ORDER BY day) AS day_points
FROM days GROUP BY member_id ORDER BY member_id LIMIT $5"""
SEQUENCES = ("members", "points_transactions", "postings", "points_lots", "lot_allocations")


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


async def generate(url: str, sessions: Any, members: int, lots: int) -> None:
    async with unit_of_work(sessions, now=NOW, tz=Settings().tz) as uow:
        units = await seed_organisation(uow)
    ids = "{" + ",".join(str(units[code]) for code in sorted(units)) + "}"
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            for statement in DATA:
                await conn.execute(
                    statement.format(members=int(members), lots=int(lots), units=ids)
                )
            for table in SEQUENCES:
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" (SELECT max(id) FROM {table}))"
                )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def timed(run: Callable[[], Awaitable[Any]], runs: int) -> float:
    """The median wall time of `run` in milliseconds (one warm-up first)."""
    await run()
    laps = []
    for _ in range(runs):
        started = time.perf_counter()
        await run()
        laps.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(laps), 1)


async def measure(
    url: str, members: int, lots: int, runs: int, reuse: bool = False
) -> list[tuple[str, float]]:
    engine = make_engine(url, pool_size=2)
    sessions = make_sessionmaker(engine)
    tz = Settings().tz
    june, band = parse_period("2026-06"), CostBand()
    try:
        if not reuse:
            await generate(url, sessions, members, lots)
        results = []

        def uow():
            return unit_of_work(sessions, now=NOW, tz=tz)

        async def rebuild():
            async with uow() as u:
                await refresh_figures(u, full=True)

        started = time.perf_counter()
        await rebuild()
        results.append(
            ("rebuild-figures (in full)", round((time.perf_counter() - started) * 1000, 1))
        )

        async def refresh():
            async with uow() as u:
                await refresh_figures(u)

        results.append(("refresh-figures (incremental)", await timed(refresh, runs)))
        async with uow() as u:
            unit_ids = [
                r[0] for r in await (await u.driver()).fetch("SELECT id FROM business_units")
            ]

        async def read(work):
            async def run():
                async with uow() as u:
                    await work(u)

            return await timed(run, runs)

        queries = {
            "programFigures (group, month)": lambda u: programme_figures(
                u, june, unit_id=None, band=band
            ),
            "programFigures (one unit, year)": lambda u: programme_figures(
                u, parse_period("2026"), unit_id=unit_ids[1], band=band
            ),
            "formatOverlap (month)": lambda u: audience.format_overlap(u, june, unit_ids),
            "formatOverlap (year)": lambda u: audience.format_overlap(
                u, parse_period("2026"), unit_ids
            ),
            "memberSegments (12 months)": lambda u: audience.member_segments(u, june),
            "referralStats (month)": lambda u: referrals.referral_stats(
                u, june, starts_at=june.starts_at(tz), ends_at=june.ends_at(tz), top=10
            ),
            "expiringPoints (30 days, first 100)": lambda u: expiring.expiring_points(
                u, within_days=30, limit=101
            ),
            "expiringPoints (30 days, first 100, from the middle)": lambda u: (
                expiring.expiring_points(u, within_days=30, limit=101, after_member=members // 2)
            ),
            "expiringPoints (1 day, first 100)": lambda u: expiring.expiring_points(
                u, within_days=1, limit=101
            ),
            "for comparison: expiringPoints grouping the whole window (30 days, before)": (
                lambda u: _whole_window(u, tz)
            ),
            "for comparison: the month's unit figures from the ledger": lambda u: _from_ledger(
                u, june, tz
            ),
        }
        for name, work in queries.items():
            results.append((name, await read(work)))
        return results
    finally:
        await engine.dispose()


async def _from_ledger(uow: Any, period: Any, tz: Any) -> Any:
    return await (await uow.driver()).fetch(
        UNIT_DAYS, str(tz), period.starts_at(tz), period.ends_at(tz)
    )


async def _whole_window(uow: Any, tz: Any) -> Any:
    return await (await uow.driver()).fetch(
        WHOLE_WINDOW, str(tz), NOW, NOW + timedelta(days=30), 0, 101
    )


def run(
    database_url: str, members: int, lots: int, runs: int, reuse: bool = False
) -> list[tuple[str, float]]:
    admin_url, url = urls(database_url)
    if not reuse:
        asyncio.run(recreate(admin_url))
    with ThreadPoolExecutor(1) as pool:
        pool.submit(migrate.upgrade, url).result()
    return asyncio.run(measure(url, members, lots, runs, reuse))


def table(results: list[tuple[str, float]], members: int, lots: int) -> str:
    lines = [
        f"Figures on {members:,} members, {members * lots:,} lots"
        " (median ms of each, in process; scripts/bench_figures.py)",
        "",
        "| operation | ms |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {ms} |" for name, ms in results]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--lots", type=int, default=20, help="purchases (lots) per member")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the data set of the last run (same --members and --lots): no generation",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    args = parser.parse_args()
    if not 1 <= args.members <= 1_000_000 or not 1 <= args.lots <= 100:
        raise SystemExit("--members must be 1 .. 1,000,000 and --lots 1 .. 100")
    print(
        table(
            run(args.database_url, args.members, args.lots, args.runs, args.reuse),
            args.members,
            args.lots,
        )
    )


if __name__ == "__main__":
    main()
