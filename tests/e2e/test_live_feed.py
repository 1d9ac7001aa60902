"""The worker's one pub/sub connection (app.platform.points_feed), seen from real clients.

- A hundred subscriptions on one websocket hold one Redis connection, and meanwhile velocity
  limits, query budgets and dynamic codes work (issue 18: they failed open once subscriptions
  had used up the pool).
- A subscription is priced in the query budget when it starts.
- Subscriptions ride out a Redis restart: the client gets the balance as it is once Redis is
  back, then live updates, without subscribing again; a hung connection (open, silent) is
  found by its unanswered pings and replaced the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as redis

from app.bootstrap import Services, make_redis, make_subscriptions_redis
from app.platform.points_feed import PointsFeed
from app.platform.pubsub import publish_points_changed
from app.settings import AbusePolicy, Settings
from tests.e2e.graphql_ws import graphql_ws
from tests.e2e.test_redis_edges import serve
from tests.e2e.test_subscriptions import (
    NEEDS_SHARED_REDIS,
    SHARED_REDIS,
    WATCH,
    bearer,
    member_token,
)
from tests.e2e.test_subscriptions import people as people  # the fixture, reused

EARN = """
mutation($input: EarnPointsInput!) {
  earnPoints(input: $input) { balance { available } errors { code field } }
}"""
DYNAMIC_CODE = "{ me { dynamicCode { code } } }"


@contextlib.asynccontextmanager
async def gateway(settings: Settings, sessions, clock) -> AsyncIterator[tuple[Services, str]]:
    """The gateway on a loopback port with the Redis clients production builds."""
    redis = make_redis(settings)
    services = Services(
        settings=settings,
        sessions=sessions,
        redis=redis,
        subscriptions_redis=make_subscriptions_redis(settings, redis),
        clock=lambda: clock.now,
    )
    server, task, sock, address = await serve(services)
    try:
        yield services, address
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()
        await services.points_feed.aclose()
        await services.subscriptions_redis.aclose()
        await redis.aclose()


async def earn(http: httpx.AsyncClient, key: str, member: int, device: str) -> dict:
    values = {
        "memberId": str(member),
        "businessUnitId": "HOTEL",
        "orderRef": f"r{uuid.uuid4().hex[:12]}",
        "amount": "100.00",
        "deviceId": device,
        "idempotencyKey": uuid.uuid4().hex,
    }
    response = await http.post(
        "/graphql", json={"query": EARN, "variables": {"input": values}}, headers={"X-Api-Key": key}
    )
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["earnPoints"]


async def first_balances(ws, operations: list[str]) -> dict[str, int]:
    """The next balance of every operation (in whatever order they arrive)."""
    seen: dict[str, int] = {}
    while len(seen) < len(operations):
        message = await ws.receive()
        assert message["type"] == "next" and "errors" not in message["payload"], message
        seen[message["id"]] = message["payload"]["data"]["pointsChanged"]["available"]
    return seen


@NEEDS_SHARED_REDIS
async def test_a_hundred_subscriptions_hold_one_redis_connection(
    sessions, redis_client, redis_prefix, clock, people
):
    settings = Settings(
        redis_prefix=redis_prefix,
        redis_url=SHARED_REDIS,
        redis_max_connections=4,  # small: one connection per subscription would drain it
        max_subscriptions_per_connection=120,
        max_subscriptions_per_caller=120,
        abuse=AbusePolicy(device_earn_limit=5),
    )
    async with gateway(settings, sessions, clock) as (services, address):
        member = bearer(member_token(services, people["member"]))
        async with graphql_ws(f"ws://{address}/graphql", payload=member) as ws:
            watches = [await ws.subscribe(WATCH) for _ in range(110)]
            assert set((await first_balances(ws, watches)).values()) == {0}

            # The server the gateway uses (the fixture's client may be fakeredis, which lists
            # no connections of other clients).
            shared = redis.from_url(SHARED_REDIS, decode_responses=True)
            try:
                clients = await shared.client_list()
            finally:
                await shared.aclose()
            live = [c for c in clients if c.get("name") == f"{redis_prefix}live"]
            assert len(live) == 1, live  # one pub/sub connection for all of them
            assert int(live[0]["sub"]) == 1  # and one channel: they watch one member
            assert services.points_feed.listeners() == 110

            async with httpx.AsyncClient(base_url=f"http://{address}", timeout=20) as http:
                # the velocity limit still counts: 8 earns from one till, a limit of 5
                codes = [
                    [
                        e["code"]
                        for e in (await earn(http, people["key"], people["other"], "t1"))["errors"]
                    ]
                    for _ in range(8)
                ]
                assert codes == [[]] * 5 + [["LIMIT_REACHED"]] * 3

                # dynamic codes and the query budget still reach Redis
                body = (
                    await http.post("/graphql", json={"query": DYNAMIC_CODE}, headers=member)
                ).json()
                assert "errors" not in body, body
                assert len(body["data"]["me"]["dynamicCode"]["code"]) == 18
                assert body["extensions"]["cost"]["budget"] is not None  # metered, not open

                # and a change reaches every one of the hundred and ten subscriptions
                earned = await earn(http, people["key"], people["member"], "t2")
                assert earned["errors"] == []
            assert set((await first_balances(ws, watches)).values()) == {200}


async def test_a_subscription_is_priced_when_it_starts(
    sessions, redis_client, redis_prefix, clock, people
):
    settings = Settings(
        redis_prefix=redis_prefix, query_budget_capacity=35, query_budget_leak_per_second=0.001
    )
    services = Services(
        settings=settings, sessions=sessions, redis=redis_client, clock=lambda: clock.now
    )
    server, task, sock, address = await serve(services)
    try:
        member = bearer(member_token(services, people["member"]))
        async with graphql_ws(f"ws://{address}/graphql", payload=member) as ws:
            for _ in range(2):  # a subscription costs 15: two fit in 35
                watch = await ws.subscribe(WATCH)
                assert (await ws.next_data(watch))["pointsChanged"]["available"] == 0
            assert await ws.error_code(await ws.subscribe(WATCH)) == "THROTTLED"
        bucket = await redis_client.hgetall(services.budget.key(f"member:{people['member']}"))
        assert float(bucket["level"]) == pytest.approx(30, abs=0.1)  # the refused one: nothing
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()
        await services.points_feed.aclose()


class RedisServer:
    """A redis-server of this test's own, to stop and start again on the same port."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: ASYNC220 - returns at once
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            await asyncio.sleep(0.025)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
async def own_redis() -> AsyncIterator[RedisServer]:
    server = RedisServer()
    try:
        await server.start()
    except FileNotFoundError:
        pytest.skip("redis-server is not installed: this test stops and restarts its own Redis")
    yield server
    server.stop()


async def test_subscriptions_resume_by_themselves_when_redis_comes_back(
    own_redis, sessions, redis_prefix, clock, people
):
    settings = Settings(redis_prefix=redis_prefix, redis_url=own_redis.url)
    async with gateway(settings, sessions, clock) as (services, address):
        services.points_feed.max_backoff = 0.3  # retry often: the test waits for it
        member = people["member"]
        async with graphql_ws(
            f"ws://{address}/graphql", payload=bearer(member_token(services, member))
        ) as ws:
            mine = await ws.subscribe(WATCH)
            assert (await ws.next_data(mine))["pointsChanged"]["available"] == 0
            connections = services.points_feed.connections

            own_redis.stop()
            async with httpx.AsyncClient(base_url=f"http://{address}", timeout=20) as http:
                during = await earn(http, people["key"], member, "t1")  # fails open, unscreened
                assert during["balance"]["available"] == 200
                assert await ws.silent_for(0.5)  # waiting, not ended

                await own_redis.start()
                resumed = await ws.next_data(mine, wait=15)  # without subscribing again
                assert resumed["pointsChanged"]["available"] == 200  # what changed meanwhile
                assert services.points_feed.connections > connections

                after = await earn(http, people["key"], member, "t1")
                assert after["balance"]["available"] == 400
                assert (await ws.next_data(mine))["pointsChanged"]["available"] == 400


class FreezingProxy:
    """A TCP proxy to Redis that can stop passing bytes either way: Redis hung, not down."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.frozen = False
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> FreezingProxy:
        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await reader.read(65536):
                    if not self.frozen:
                        writer.write(data)
                        await writer.drain()
            writer.close()

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
            self._writers += [writer, up_writer]
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

        self._server = await asyncio.start_server(accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for writer in self._writers:
            writer.close()
        assert self._server is not None
        self._server.close()


async def test_the_feed_finds_a_hung_connection_and_resumes(own_redis, redis_prefix):
    async with FreezingProxy(own_redis.port) as proxy:
        client = redis.from_url(f"redis://127.0.0.1:{proxy.port}/0", decode_responses=True)
        publisher = redis.from_url(own_redis.url, decode_responses=True)
        feed = PointsFeed(client, redis_prefix, ping_seconds=0.2, max_backoff=0.2)
        changes = feed.changes(7)
        try:
            await anext(changes)
            proxy.frozen = True  # the connection stays open; nothing comes back
            await publish_points_changed(publisher, redis_prefix, 7)  # lost in the freeze
            for _ in range(200):  # unanswered pings: the feed gives the connection up
                if feed.listeners() == 1 and not feed.connected:
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the feed never noticed the hung connection")
            proxy.frozen = False
            await asyncio.wait_for(anext(changes), 15)  # resubscribed: "changed" once
            assert feed.connections >= 2
            await publish_points_changed(publisher, redis_prefix, 7)
            await asyncio.wait_for(anext(changes), 15)  # and live again
        finally:
            await changes.aclose()
            await feed.aclose()
            await client.aclose()
            await publisher.aclose()
