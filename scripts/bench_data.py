"""Benchmark data set: members with ledger history, written by set-based SQL in seconds.

The rows are what the domain would have written for `lots` earns of 100 points at HOTEL per
member (transaction, two balanced postings, one lot, balance row, HOTEL link), so
`verify_ledger()` holds on the result and the gateway's queries see realistic table sizes.
"""

from __future__ import annotations

import asyncpg

STATEMENTS = [
    """INSERT INTO members (id, phone, display_name, registered_at, registered_via_unit_id,
                           referral_code)
       SELECT g, (15000000000 + g)::text, 'Bench member ' || g, now() - interval '400 days',
              {hotel}, 'B' || lpad(upper(to_hex(g)), 7, '0')
       FROM generate_series(1, {members}) g""",
    """INSERT INTO member_balances (member_id, available, pending, debt)
       SELECT g, {lots} * 100, 0, 0 FROM generate_series(1, {members}) g""",
    """INSERT INTO member_unit_links (business_unit_id, member_id, external_id, linked_via,
                                     linked_at)
       SELECT {hotel}, g, 'BENCH-' || g, 'REGISTRATION', now() - interval '400 days'
       FROM generate_series(1, {members}) g""",
    """INSERT INTO points_transactions (id, member_id, kind, source, rule, business_unit_id,
              order_ref, order_amount, points, debt_change, detail, caller, created_at)
       SELECT (m - 1) * {lots} + k, m, 'EARN', 'ORDER', 'base:HOTEL', {hotel},
              'BENCH-' || m || '-' || k, 50.00, 100, 0, '{{}}'::jsonb, 'bench',
              now() - make_interval(days => (k * 300 / {lots}))
       FROM generate_series(1, {members}) m, generate_series(1, {lots}) k""",
    """INSERT INTO postings (transaction_id, account_kind, account_owner, points)
       SELECT t.id, a.kind, CASE WHEN a.kind = 'ISSUED' THEN {hotel} ELSE t.member_id END,
              CASE WHEN a.kind = 'ISSUED' THEN -100 ELSE 100 END
       FROM points_transactions t
       CROSS JOIN (VALUES ('MEMBER_AVAILABLE'), ('ISSUED')) AS a(kind)
       WHERE t.caller = 'bench'""",
    """INSERT INTO points_lots (member_id, transaction_id, issuer_unit_id, funder_unit_id,
              cost_per_point, points, remaining, state, earned_at, expires_at)
       SELECT t.member_id, t.id, {hotel}, {hotel}, 0.01, 100, 100, 'AVAILABLE', t.created_at,
              t.created_at + interval '12 months'
       FROM points_transactions t WHERE t.caller = 'bench'""",
]

SEQUENCES = ["members", "points_transactions", "postings", "points_lots"]


async def generate(url: str, *, members: int, lots: int) -> None:
    """Write `members` members with `lots` earned lots each into an empty, seeded database."""
    conn = await asyncpg.connect(url)
    try:
        hotel = await conn.fetchval("SELECT id FROM business_units WHERE code = 'HOTEL'")
        async with conn.transaction():
            for statement in STATEMENTS:
                # integers only, formatted in: no injection surface, and no unused parameters
                await conn.execute(
                    statement.format(members=int(members), hotel=int(hotel), lots=int(lots))
                )
            for table in SEQUENCES:
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
