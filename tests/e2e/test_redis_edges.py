"""Redis cannot be used to switch the protections off, and its absence is a retryable answer.

- Subscriptions are capped per websocket and per caller (SUBSCRIPTION_LIMIT), and share no
  connection with the request path (app.bootstrap.make_subscriptions_redis).
- Redis down or hung: pointsChanged, dynamicCode and memberByCode answer UNAVAILABLE, not
  INTERNAL; /readyz says which is down, bounded by REDIS_TIMEOUT_SECONDS either way.
"""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
import uvicorn

from app.bootstrap import Services, make_redis
from app.main import create_app
from app.settings import Settings
from tests.e2e.graphql_ws import graphql_ws
from tests.e2e.test_subscriptions import WATCH, bearer, member_token
from tests.e2e.test_subscriptions import people as people  # the fixture, reused

DYNAMIC_CODE = "{ me { dynamicCode { code } } }"
BY_CODE = "query($code: String!) { memberByCode(code: $code) { id } }"


async def serve(services: Services):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        create_app(services=services), lifespan="off", log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), task
        await asyncio.sleep(0.01)
    return server, task, sock, f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
async def capped(sessions, redis_client, redis_prefix, clock):
    settings = Settings(
        redis_prefix=redis_prefix,
        max_subscriptions_per_connection=2,
        max_subscriptions_per_caller=3,
    )
    services = Services(
        settings=settings, sessions=sessions, redis=redis_client, clock=lambda: clock.now
    )
    server, task, sock, address = await serve(services)
    yield services, address
    server.should_exit = True
    await asyncio.wait_for(task, 10)
    sock.close()


async def _refused(ws, operation_id: str) -> str | None:
    return await ws.error_code(operation_id)


async def test_subscriptions_are_capped_per_connection_and_per_caller(capped, people):
    services, address = capped
    url, token = f"ws://{address}/graphql", bearer(member_token(services, people["member"]))
    async with graphql_ws(url, payload=token) as first, graphql_ws(url, payload=token) as second:
        opened = []
        for _ in range(2):
            opened.append(await first.subscribe(WATCH))
            assert (await first.next_data(opened[-1]))["pointsChanged"]["available"] == 0
        assert await _refused(first, await first.subscribe(WATCH)) == "SUBSCRIPTION_LIMIT"

        third = await second.subscribe(WATCH)  # the caller's third, on another socket
        assert (await second.next_data(third))["pointsChanged"]["available"] == 0
        assert await _refused(second, await second.subscribe(WATCH)) == "SUBSCRIPTION_LIMIT"

        await first.complete(opened[0])  # a slot freed is a slot to use again
        for _ in range(50):
            again = await second.subscribe(WATCH)
            message = await second.receive()
            while message.get("id") != again:
                message = await second.receive()
            if message["type"] == "next" and "errors" not in message["payload"]:
                break
            assert await second.receive() == {"id": again, "type": "complete"}
            await asyncio.sleep(0.05)  # the completion is still being cleaned up
        else:
            pytest.fail("the freed slot was never given back")


class Silent:
    """A TCP server that accepts connections and never answers: a hung Redis."""

    def __init__(self) -> None:
        self.server: asyncio.AbstractServer | None = None
        self.port = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> Silent:
        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.writers.append(writer)

        self.server = await asyncio.start_server(hold, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for writer in self.writers:
            writer.close()
        assert self.server is not None
        self.server.close()


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    return port


@pytest.mark.parametrize("redis_state", ["down", "hung"])
async def test_without_redis_answers_are_unavailable_not_internal(
    redis_state, sessions, redis_prefix, clock, people, creds_for
):
    async with Silent() as silent:
        port = silent.port if redis_state == "hung" else _closed_port()
        settings = Settings(redis_prefix=redis_prefix, redis_url=f"redis://127.0.0.1:{port}/0")
        redis = make_redis(settings)
        services = Services(
            settings=settings, sessions=sessions, redis=redis, clock=lambda: clock.now
        )
        server, task, sock, address = await serve(services)
        try:
            member = bearer(member_token(services, people["member"]))
            async with httpx.AsyncClient(base_url=f"http://{address}", timeout=20) as http:
                body = (
                    await http.post("/graphql", json={"query": DYNAMIC_CODE}, headers=member)
                ).json()
                assert body["errors"][0]["extensions"]["code"] == "UNAVAILABLE", body
                till = await creds_for(services, "HOTEL")
                body = (
                    await http.post(
                        "/graphql",
                        json={"query": BY_CODE, "variables": {"code": "1" * 18}},
                        headers=till,
                    )
                ).json()
                assert body["errors"][0]["extensions"]["code"] == "UNAVAILABLE", body
                ready = await http.get("/readyz")
                assert ready.status_code == 503
                assert ready.json()["redis"].startswith("down:")
            async with graphql_ws(f"ws://{address}/graphql", payload=member) as ws:
                watch = await ws.subscribe(WATCH)
                assert await ws.error_code(watch) == "UNAVAILABLE"
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 10)
            sock.close()
            await redis.aclose()


@pytest.fixture
def creds_for(uow_factory):
    from app.domain.access.partner_keys import create_partner_key

    async def partner(services: Services, unit: str) -> dict:
        async with uow_factory() as uow:
            key, _ = await create_partner_key(uow, business_unit=unit, scopes=["read", "earn"])
        return {"X-Api-Key": key}

    return partner
