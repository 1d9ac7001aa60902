"""The hot statements keep PostgreSQL's generic plan.

A prepared statement is planned for its values until PostgreSQL finds a plan for any values as
cheap; then it stops planning. A generic plan that looks dearer than the custom one (an array
of unknown length, a partial index it cannot prove) meant planning again on every execution.
Here each statement is explained with the generic plan forced, as PostgreSQL would price it.
"""

from __future__ import annotations

import re

from app.domain.till.orders import RECORDED_ORDER
from app.graphql.core.loaders import MEMBERS_SQL, TRANSACTIONS_SQL
from app.platform.driver import Driver, one_key


async def _generic_plan(engine, sql: str, types: str) -> str:
    """EXPLAIN of `sql` prepared with parameter `types`, under the generic plan."""
    async with engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        async with raw.transaction():
            await raw.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            await raw.execute("SET LOCAL enable_seqscan = off")
            await raw.execute(f"PREPARE probe({types}) AS {sql}")
            try:
                nulls = ", ".join("NULL" for _ in types.split(","))
                rows = await raw.fetch(f"EXPLAIN EXECUTE probe({nulls})")
            finally:
                await raw.execute("DEALLOCATE probe")
    return "\n".join(row[0] for row in rows)


def _first_rows(plan: str, node: str) -> int:
    """The estimated rows of the first plan line naming `node`."""
    line = next(line for line in plan.splitlines() if node in line)
    return int(re.search(r"rows=(\d+)", line).group(1))


async def test_one_key_statements_are_priced_for_one_key(clean_db, engine):
    member = await _generic_plan(engine, one_key(MEMBERS_SQL), "bigint")
    assert _first_rows(member, "members_pkey") == 1
    page = await _generic_plan(engine, one_key(TRANSACTIONS_SQL), "bigint, int")
    assert _first_rows(page, "Function Scan on unnest") == 1
    # the array form: PostgreSQL guesses ten keys, so its generic plan looks ten times dearer
    batch = await _generic_plan(engine, MEMBERS_SQL, "bigint[]")
    assert _first_rows(batch, "members_pkey") > 1


async def test_the_order_check_uses_the_unique_order_index(clean_db, engine):
    plan = await _generic_plan(engine, RECORDED_ORDER, "bigint, text, text")
    assert "uq_points_transactions_order" in plan
    # without the index's predicate in the text, a plan for any kind cannot use it
    bare = RECORDED_ORDER.replace(" AND kind IN ('EARN', 'SPEND')", "")
    assert bare != RECORDED_ORDER
    assert "uq_points_transactions_order" not in await _generic_plan(
        engine, bare, "bigint, text, text"
    )


async def test_one_key_reads_the_same_rows_as_the_array(clean_db, engine):
    async with engine.connect() as connection:
        driver = Driver((await connection.get_raw_connection()).driver_connection)
        sql = "SELECT g FROM generate_series(1, 5) g WHERE g = ANY($1::int[]) ORDER BY g"
        assert [r[0] for r in await driver.fetch_keys(sql, [3])] == [3]
        assert [r[0] for r in await driver.fetch_keys(sql, [4, 2])] == [2, 4]
        assert await driver.fetch_keys(sql, []) == []
