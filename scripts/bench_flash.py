"""Flash sale throughput (积分秒杀): attempts per second on a limited stock, with and without the
Redis gate, side by side in one run.

    .venv/bin/python scripts/bench_flash.py [--attempts 2000] [--stock 100] [--members 500]

In a database of its own (`bmg_bench_flash` on DATABASE_URL's server): `--members` members with
points (enough for every rush: the same members tend to win each), two flash items of `--stock`
units each (two per member). Every member then tries `attempts / members` times at once on the
first item through the Redis gate (app.domain.mall.flash_gate.through_gate, the path
`placeMallOrder` takes), and on the second on the database alone (the gate down): each attempt
is one call of the domain function in the same process, over a pool of 20 (+20) connections, so
the figures are the domain's and the database's, not HTTP's. For each: attempts/s over the wall
time of the rush, orders, oversold (orders beyond the stock: must be 0), the 99th percentile of
an attempt's latency, the time until the last unit was sold. `scripts/bench --flash N` runs it
and adds the lines to its report. A measurement, never a threshold.

`--compare R` measures instead, in R alternating rounds on items of their own, the order as it
was placed before the stock was taken last ("stock first": the conditional UPDATE of the item's
row right after the limit, so that row was held through the points, the order's row and the
commit) against `place_order` now ("stock last"), on the database alone and through the gate,
and prints every rush and the mean of each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.demo.organisation import seed_organisation  # noqa: E402
from app.domain.ledger.accounts import TxKind  # noqa: E402
from app.domain.ledger.redemption import redeem  # noqa: E402
from app.domain.ledger.writer import lock_member  # noqa: E402
from app.domain.mall import orders  # noqa: E402
from app.domain.mall.catalogue import MallItemSpec, create_item, get_item  # noqa: E402
from app.domain.mall.flash_gate import Attempt, FlashGate, through_gate  # noqa: E402
from app.domain.mall.orders import place_order  # noqa: E402
from app.domain.members.identity import register_member  # noqa: E402
from app.domain.shared.errors import DomainError, ErrorCode  # noqa: E402
from app.domain.till.earning import earn_points  # noqa: E402
from app.models import MallOrder, PointsTransaction  # noqa: E402
from app.platform import migrate  # noqa: E402
from app.platform.db import make_engine, make_sessionmaker  # noqa: E402
from app.platform.uow import unit_of_work  # noqa: E402
from app.settings import Settings  # noqa: E402

NAME = "bmg_bench_flash"
WINDOW = timedelta(minutes=15)


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


class _Down:
    """Redis that does not answer: the gate lets every attempt through to the database."""

    def register_script(self, script: str):
        async def fail(**kwargs):
            raise ConnectionError("redis is down")

        return fail


async def place_stock_first(uow, *, member_id, item_id, quantity, caller, payment_window,
                            caller_ref=None, delivery_address=None):  # fmt: skip
    """`place_order` as it was before the stock was taken last (for `--compare` only): the same
    checks and writes, the item's row taken by the conditional UPDATE right after the limit and
    so held through the points, the order's row and the commit."""
    orders.check_quantity(quantity)
    member, balance = await lock_member(uow, member_id)
    item = await get_item(uow, item_id)
    orders.check_on_sale(item, uow)
    await orders.check_tier(uow, member.id, item)
    if item.per_member_limit is not None:
        if await orders.ordered_by(uow, member.id, item.id) + quantity > item.per_member_limit:
            raise DomainError(ErrorCode.LIMIT_REACHED, "limit", "itemId")
    if item.stock_remaining is not None:
        left = await (await uow.driver()).fetchval(orders._TAKE_STOCK, item.id, quantity)
        if left is None:
            raise DomainError(ErrorCode.OUT_OF_STOCK, "out of stock", "itemId")
    points = item.points_price * quantity
    tx = PointsTransaction(
        member_id=member.id, kind=TxKind.MALL_ORDER.value, source="MALL", rule=f"mall:{item.id}",
        business_unit_id=item.supplier_unit_id, points=-points, caller=caller[:64],
        caller_ref=caller_ref, created_at=uow.now,
    )  # fmt: skip
    tx_id = (await redeem(uow, tx, balance, redeemer_unit_id=item.supplier_unit_id)).id
    order = MallOrder(
        member_id=member.id, item_id=item.id, quantity=quantity,
        status=orders.OrderStatus.AWAITING_PAYMENT.value, points_spent=points,
        cash_due=Decimal("0.00"), transaction_id=tx_id, delivery_address=delivery_address,
        pay_by=None, caller=caller[:64], created_at=uow.now, updated_at=uow.now,
    )  # fmt: skip
    uow.session.add(order)
    await uow.session.flush()
    await orders._fulfil(uow, order, item)
    orders.announce(uow, order, item)
    return order


async def _prepare(
    sessions, tz, now: datetime, members: int, stock: int, labels: list[str]
) -> tuple[list, list]:
    ids = []
    async with unit_of_work(sessions, now=now, tz=tz) as uow:
        await seed_organisation(uow)
    for start in range(0, members, 100):
        async with unit_of_work(sessions, now=now, tz=tz) as uow:
            for n in range(start, min(members, start + 100)):
                member = await register_member(
                    uow, phone=str(13900000000 + n), business_unit="HOTEL", display_name="Bench"
                )
                await earn_points(
                    uow, member_id=member.id, business_unit="HOTEL", order_ref=f"B{n}",
                    amount=Decimal(50 * len(labels)), caller="bench",
                )  # fmt: skip
                ids.append(member.id)
    items = []
    async with unit_of_work(sessions, now=now, tz=tz) as uow:
        for label in labels:
            spec = MallItemSpec(
                f"Flash {label}", "PHYSICAL", "MALL", 10, stock=stock, per_member_limit=2,
                sale_starts_at=now - timedelta(seconds=1), flash_sale=True,
            )  # fmt: skip
            items.append((await create_item(uow, spec=spec, actor="bench")).id)
    return ids, items


async def _rush(
    sessions, tz, gate, item_id: int, members: list[int], tries: int, placer=place_order
) -> dict:
    latencies: list[float] = []
    sold_at: list[float] = []
    now = datetime.now(UTC)
    started = time.perf_counter()

    def open_uow():
        return unit_of_work(sessions, now=now, tz=tz)

    async def one(member: int, n: int) -> str:
        began = time.perf_counter()

        async def place():
            async with open_uow() as uow:
                return await placer(
                    uow, member_id=member, item_id=item_id, quantity=1, caller="bench",
                    caller_ref=f"{member}:{n}", payment_window=WINDOW,
                    delivery_address="1 Nanjing Road",
                )  # fmt: skip

        attempt = Attempt(item_id=item_id, member_id=member, quantity=1, key=f"{member}:{n}")
        try:
            await through_gate(gate, open_uow, attempt, now=now, place=place)
            outcome = "ORDER"
            sold_at.append(time.perf_counter() - started)
        except DomainError as error:
            outcome = error.code.value
        latencies.append(time.perf_counter() - began)
        return outcome

    outcomes = await asyncio.gather(*(one(m, n) for m in members for n in range(tries)))
    elapsed = time.perf_counter() - started
    counted = Counter(outcomes)
    latencies.sort()
    return {
        "attempts": len(outcomes),
        "orders": counted["ORDER"],
        "refused": {k: v for k, v in counted.items() if k != "ORDER"},
        "seconds": round(elapsed, 2),
        "attempts_per_second": round(len(outcomes) / elapsed),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
        "sold_out_seconds": round(max(sold_at), 2) if sold_at else None,
    }


async def measure(url: str, redis_url: str, attempts: int, stock: int, members: int) -> dict:
    import redis.asyncio as redis

    settings = Settings()
    engine = make_engine(url, pool_size=20)
    sessions = make_sessionmaker(engine)
    client = redis.from_url(redis_url, decode_responses=True)
    prefix = f"bmgbench-flash:{int(time.time())}:"
    now = datetime.now(UTC)
    labels = ["warm-up", "gate", "database"]
    ids, (warm, gated, plain) = await _prepare(sessions, settings.tz, now, members, stock, labels)
    tries = max(1, attempts // members)
    try:
        # A warm-up rush first (one attempt per member, the database alone): the first rush on
        # a fresh database ran at half speed whichever path it took.
        down = FlashGate(_Down(), prefix=prefix)
        await _rush(sessions, settings.tz, down, warm, ids, 1)
        without = await _rush(
            sessions, settings.tz, FlashGate(_Down(), prefix=prefix), plain, ids, tries
        )
        with_gate = await _rush(
            sessions, settings.tz, FlashGate(client, prefix=prefix), gated, ids, tries
        )
    finally:
        await client.aclose()
        await engine.dispose()
    for figure in (with_gate, without):
        figure["oversold"] = max(0, figure["orders"] - stock)
        figure["stock"] = stock
    return {"gate": with_gate, "database": without, "members": members}


async def compare(
    url: str, redis_url: str, attempts: int, stock: int, members: int, rounds: int
) -> dict:
    """`rounds` rounds of every variant in turn, each rush on an item of its own (see the
    module's docstring)."""
    import redis.asyncio as redis

    settings = Settings()
    engine = make_engine(url, pool_size=20)
    sessions = make_sessionmaker(engine)
    client = redis.from_url(redis_url, decode_responses=True)
    prefix = f"bmgbench-flash:{int(time.time())}:"
    now = datetime.now(UTC)
    runs = [variant for _ in range(rounds) for variant in VARIANTS]
    ids, items = await _prepare(
        sessions, settings.tz, now, members, stock, ["warm-up"] + [v[0] for v in runs]
    )
    tries = max(1, attempts // members)
    figures: dict[str, list[dict]] = {v[0]: [] for v in VARIANTS}
    try:
        down = FlashGate(_Down(), prefix=prefix)
        await _rush(sessions, settings.tz, down, items[0], ids, 1)
        for (label, gated, placer), item in zip(runs, items[1:], strict=True):
            gate = FlashGate(client if gated else _Down(), prefix=prefix)
            figure = await _rush(sessions, settings.tz, gate, item, ids, tries, placer)
            figure["oversold"] = max(0, figure["orders"] - stock)
            figures[label].append(figure)
            print(f"{label}: {_short(figure)}", flush=True)
    finally:
        await client.aclose()
        await engine.dispose()
    return figures


# (label, through the Redis gate, the order), each measured in every round in this order
VARIANTS = [
    ("database alone, stock first", False, place_stock_first),
    ("database alone, stock last", False, place_order),
    ("Redis gate, stock first", True, place_stock_first),
    ("Redis gate, stock last", True, place_order),
]
MEASURES = ("attempts_per_second", "p99_ms", "sold_out_seconds")


def _short(f: dict) -> str:
    return (
        f"{f['attempts_per_second']} attempts/s, {f['orders']} orders, oversold {f['oversold']},"
        f" p99 {f['p99_ms']} ms, sold out after {f['sold_out_seconds']} s, refused"
        f" {f['refused']}"
    )


def run(
    database_url: str, redis_url: str, attempts: int, stock: int, members: int, rounds: int = 0
) -> dict:
    admin_url, url = urls(database_url)
    asyncio.run(recreate(admin_url))
    with ThreadPoolExecutor(1) as pool:
        pool.submit(migrate.upgrade, url).result()
    if rounds:
        return asyncio.run(compare(url, redis_url, attempts, stock, members, rounds))
    return asyncio.run(measure(url, redis_url, attempts, stock, members))


def compared(figures: dict) -> str:
    rows = []
    for label, runs in figures.items():
        mean = {m: round(sum(f[m] or 0 for f in runs) / len(runs), 2) for m in MEASURES}
        rows.append(
            f"mean of {len(runs)}, {label}: {mean['attempts_per_second']} attempts/s,"
            f" p99 {mean['p99_ms']} ms, sold out after {mean['sold_out_seconds']} s,"
            f" oversold {max(f['oversold'] for f in runs)}"
        )
    return "\n".join(rows)


def lines(figure: dict) -> str:
    rows = []
    for label, key in (("Redis gate", "gate"), ("database alone", "database")):
        f = figure[key]
        rows.append(
            f"Flash sale, {label}: {f['attempts_per_second']} attempts/s ({f['attempts']} attempts"
            f" by {figure['members']} members on {f['stock']} in stock, {f['seconds']} s),"
            f" {f['orders']} orders, oversold {f['oversold']}, p99 {f['p99_ms']} ms, sold out"
            f" after {f['sold_out_seconds']} s"
        )
    ratio = figure["gate"]["attempts_per_second"] / max(
        1, figure["database"]["attempts_per_second"]
    )
    rows.append(f"Flash sale: the gate handles {ratio:.1f}x the attempts per second")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=2000)
    parser.add_argument("--stock", type=int, default=100)
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument(
        "--compare", type=int, default=0, help="rounds of stock first against stock last"
    )
    args = parser.parse_args()
    figure = run(
        args.database_url, args.redis_url, args.attempts, args.stock, args.members, args.compare
    )
    print(compared(figure) if args.compare else lines(figure))


if __name__ == "__main__":
    main()
