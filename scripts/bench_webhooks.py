"""Webhook delivery throughput: events per second from the outbox to a local receiver.

    .venv/bin/python scripts/bench_webhooks.py [--events 2000] [--concurrency 20]

In a database of its own (`bmg_bench_webhooks` on DATABASE_URL's server): one group endpoint
subscribed to POINTS_CHANGED on a receiver on loopback (a Starlette app under uvicorn in the
same process, answering 200 at once, so its CPU counts against the figure); `--events` events
written to the outbox in one transaction; then the dispatcher (the one `serve` runs) takes,
signs and delivers them all, and the figure is events / wall time of that. `scripts/bench
--webhooks N` runs it and adds the line to its report. A measurement, never a threshold.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.demo.organisation import seed_organisation  # noqa: E402
from app.domain.access.principals import Principal  # noqa: E402
from app.domain.webhooks.endpoints import create_endpoint  # noqa: E402
from app.jobs.webhooks import WebhookDispatcher  # noqa: E402
from app.platform import migrate  # noqa: E402
from app.platform.db import make_engine, make_sessionmaker  # noqa: E402
from app.platform.outbox import DomainEvent, write_events  # noqa: E402
from app.platform.uow import unit_of_work  # noqa: E402
from app.settings import Settings  # noqa: E402

NAME = "bmg_bench_webhooks"


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


async def measure(url: str, events: int, concurrency: int) -> dict:
    received = 0

    async def hook(request: Request) -> PlainTextResponse:
        nonlocal received
        await request.body()
        received += 1
        return PlainTextResponse("ok")

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/hook", hook, methods=["POST"])]),
            log_level="warning",
            lifespan="off",
            access_log=False,
        )
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):  # uvicorn offers no event for "started"
        if server.started:
            break
        await asyncio.sleep(0.01)
    settings = Settings(webhooks_allow_private=True, webhooks_concurrency=concurrency)
    engine = make_engine(url, pool_size=4)
    sessions = make_sessionmaker(engine)
    now = datetime.now(UTC)
    ops = Principal(kind="operator", subject="bench", roles=frozenset({"ops"}))
    async with unit_of_work(sessions, now=now, tz=settings.tz) as uow:
        await seed_organisation(uow)
        await create_endpoint(
            uow,
            ops,
            url=f"http://127.0.0.1:{sock.getsockname()[1]}/hook",
            events=["POINTS_CHANGED"],
            private_ok=True,
        )
    async with unit_of_work(sessions, now=now, tz=settings.tz) as uow:
        batch = [
            DomainEvent(
                type="POINTS_CHANGED",
                member_id=1 + n % 1000,
                payload={"memberId": 1 + n % 1000, "kind": "EARN", "points": 10},
            )
            for n in range(events)
        ]
        await write_events(await uow.driver(), batch, now)
    dispatcher = WebhookDispatcher(sessions=sessions, settings=settings)
    started = time.perf_counter()
    report = await dispatcher.run_once()
    elapsed = time.perf_counter() - started
    await dispatcher.aclose()
    await engine.dispose()
    server.should_exit = True
    await serving
    return {
        "events": events,
        "delivered": report.delivered,
        "received": received,
        "seconds": round(elapsed, 2),
        "events_per_second": round(report.delivered / elapsed, 1),
        "concurrency": concurrency,
    }


def run(database_url: str, events: int, concurrency: int) -> dict:
    admin_url, url = urls(database_url)
    asyncio.run(recreate(admin_url))
    with ThreadPoolExecutor(1) as pool:
        pool.submit(migrate.upgrade, url).result()
    return asyncio.run(measure(url, events, concurrency))


def line(figure: dict) -> str:
    return (
        f"Webhooks: {figure['events_per_second']} events/s from the outbox to a local receiver"
        f" ({figure['delivered']} of {figure['events']} delivered in {figure['seconds']} s,"
        f" {figure['concurrency']} at once, signed, each attempt logged)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    args = parser.parse_args()
    print(line(run(args.database_url, args.events, args.concurrency)))


if __name__ == "__main__":
    main()
