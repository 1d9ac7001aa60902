"""Live updates over graphql-transport-ws with a real websocket client.

In-process: uvicorn serves the app on the test's event loop (the test's Redis: fakeredis, or
the real server when REDIS_URL is set). Out of process: `python -m app serve`, and two such
workers sharing PostgreSQL and Redis, subscribed on one and changed through the other.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.bootstrap import Services
from app.domain.access.partner_keys import create_partner_key
from app.domain.access.tokens import mint_member_token, mint_operator_token
from app.jobs.points import release_pending
from app.main import connection_headers, create_app
from app.platform.points_feed import PointsFeed
from app.platform.pubsub import publish_points_changed
from app.settings import Settings
from tests.conftest import NOW, TZ
from tests.e2e.graphql_ws import PROTOCOL, graphql_ws
from tests.e2e.servers import GatewayProcess, reachable
from tests.helpers import earn, new_member

WATCH = """
subscription Watch($memberId: ID) {
  pointsChanged(memberId: $memberId) { available pending debt expiring(withinDays: 400) { points } }
}"""
TILL = """
mutation TillEarn($input: EarnPointsInput!) {
  earnPoints(input: $input) { transaction { id } balance { available } errors { code } }
}
mutation TillSpend($input: SpendPointsInput!) {
  spendPoints(input: $input) { transaction { id } errors { code } }
}
mutation TillReverse($input: ReverseTransactionInput!) {
  reverseTransaction(input: $input) { balance { available } errors { code } }
}"""


def shared_redis_url() -> str | None:
    """The Redis several gateway processes can share: REDIS_URL, else a local server."""
    configured = os.environ.get("REDIS_URL")
    if configured:
        return configured
    return "redis://127.0.0.1:6379/0" if reachable("127.0.0.1", 6379) else None


SHARED_REDIS = shared_redis_url()
NEEDS_SHARED_REDIS = pytest.mark.skipif(
    SHARED_REDIS is None,
    reason=(
        "two workers need a Redis server to share (fakeredis lives inside one process): "
        "REDIS_URL is unset and 127.0.0.1:6379 does not answer; the CI run with "
        "REDIS_URL=redis://127.0.0.1:6379/0 runs this test"
    ),
)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Till:
    """A partner till calling a gateway over HTTP."""

    def __init__(self, base: str, key: str) -> None:
        self.base = base
        self.headers = {"X-Api-Key": key}

    @staticmethod
    def ref() -> str:
        return f"r{uuid.uuid4().hex[:12]}"

    async def call(self, operation: str, request_id: str | None = None, **fields) -> dict:
        values = {"idempotencyKey": self.ref(), **fields}
        headers = {**self.headers, **({"X-Request-Id": request_id} if request_id else {})}
        async with httpx.AsyncClient(base_url=self.base, timeout=20) as http:
            response = await http.post(
                "/graphql",
                json={"query": TILL, "operationName": operation, "variables": {"input": values}},
                headers=headers,
            )
        body = response.json()
        assert "errors" not in body, body
        payload = next(iter(body["data"].values()))
        assert payload["errors"] == [], payload
        return payload

    async def earn(self, member: int, amount: str = "100.00", **extra) -> dict:
        return await self.call(
            "TillEarn",
            memberId=str(member),
            businessUnitId="HOTEL",
            orderRef=self.ref(),
            amount=amount,
            **extra,
        )

    async def spend(self, member: int, points: int) -> dict:
        return await self.call(
            "TillSpend",
            memberId=str(member),
            businessUnitId="HOTEL",
            orderRef=self.ref(),
            orderAmount="10000",
            points=points,
        )

    async def reverse(self, transaction_id: str) -> dict:
        return await self.call("TillReverse", transactionId=transaction_id, reason="cancelled")


@pytest.fixture
async def people(units, uow_factory) -> dict:
    """Two members and a hotel till key."""
    async with uow_factory() as uow:
        first = await new_member(uow, "HOTEL")
        second = await new_member(uow, "HOTEL")
        key, _ = await create_partner_key(uow, business_unit="HOTEL", scopes=["earn", "spend"])
    return {"member": first, "other": second, "key": key}


# --- In process: uvicorn on the test's loop, the test's Redis ----------------------------------


@pytest.fixture
def services(sessions, redis_client, redis_prefix, clock) -> Services:
    return Services(
        settings=Settings(redis_prefix=redis_prefix),
        sessions=sessions,
        redis=redis_client,
        clock=lambda: clock.now,
    )


@pytest.fixture
async def live(services):
    """The app served on a loopback port by uvicorn inside this process."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(services=services), lifespan="off", log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), task
        await asyncio.sleep(0.01)
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    await asyncio.wait_for(task, 10)
    sock.close()


def member_token(services: Services, member: int) -> str:
    return mint_member_token(services.settings, member)


def operator_token(services: Services, role: str) -> str:
    return mint_operator_token(services.settings, f"{role}-1", role)


async def test_member_sees_every_change_and_nothing_after_complete(
    live, services, people, redis_client, redis_prefix
):
    member, till = people["member"], Till(f"http://{live}", people["key"])
    token = member_token(services, member)
    async with graphql_ws(f"ws://{live}/graphql", payload=bearer(token)) as ws:
        watch = await ws.subscribe(WATCH)
        first = await ws.next_data(watch)
        assert first["pointsChanged"] == {"available": 0, "pending": 0, "debt": 0, "expiring": []}

        earned = await till.earn(member, "100.00")  # hotel: 2 points per CNY
        changed = (await ws.next_data(watch))["pointsChanged"]
        assert changed["available"] == earned["balance"]["available"] == 200
        assert changed["expiring"] == [{"points": 200}]  # read afresh, not from a stale loader

        spent = await till.spend(member, 100)
        assert (await ws.next_data(watch))["pointsChanged"]["available"] == 100
        await till.reverse(spent["transaction"]["id"])
        assert (await ws.next_data(watch))["pointsChanged"]["available"] == 200

        await ws.complete(watch)
        await till.earn(member, "10.00")
        assert await ws.silent_for(0.5)
    channel = f"{redis_prefix}points:{member}"
    for _ in range(50):  # the server unsubscribes when the operation ends
        if dict(await redis_client.pubsub_numsub(channel))[channel] == 0:
            break
        await asyncio.sleep(0.05)
    assert dict(await redis_client.pubsub_numsub(channel))[channel] == 0


async def test_credentials_of_the_upgrade_request_work_too(live, services, people):
    member = people["member"]
    headers = bearer(member_token(services, member))
    async with graphql_ws(f"ws://{live}/graphql", headers=headers) as ws:
        watch = await ws.subscribe(WATCH, {"memberId": str(member)})
        assert (await ws.next_data(watch))["pointsChanged"]["available"] == 0


async def test_operators_watch_any_member(live, services, people, uow_factory):
    member = people["other"]
    async with uow_factory() as uow:
        await earn(uow, member, "50", unit="HOTEL")
    payload = bearer(operator_token(services, "ops"))
    async with graphql_ws(f"ws://{live}/graphql", payload=payload) as ws:
        watch = await ws.subscribe(WATCH, {"memberId": str(member)})
        assert (await ws.next_data(watch))["pointsChanged"]["available"] == 100
        # Whose points: a client watching several members (or caching by memberId) can tell.
        whose = await ws.subscribe(
            "subscription($m: ID) { pointsChanged(memberId: $m) { memberId available } }",
            {"m": str(member)},
        )
        first = (await ws.next_data(whose))["pointsChanged"]
        assert first == {"memberId": str(member), "available": 100}


@pytest.mark.parametrize(
    ("caller", "watched", "code"),
    [
        ("member", "other", "FORBIDDEN"),  # a member watches only themself
        ("anonymous", "member", "UNAUTHENTICATED"),
        ("partner", "member", "FORBIDDEN"),
        ("finance", "member", "FORBIDDEN"),
        ("ops", None, "INVALID_INPUT"),  # operators name the member
        ("ops", "unknown", "NOT_FOUND"),
    ],
)
async def test_who_may_watch(live, services, people, caller, watched, code):
    payload = {
        "member": bearer(member_token(services, people["member"])),
        "anonymous": {},
        "partner": {"X-Api-Key": people["key"]},
        "finance": bearer(operator_token(services, "finance")),
        "ops": bearer(operator_token(services, "ops")),
    }[caller]
    member_id = {
        None: None,
        "unknown": "999999",
        "member": str(people["member"]),
        "other": str(people["other"]),
    }[watched]
    async with graphql_ws(f"ws://{live}/graphql", payload=payload) as ws:
        watch = await ws.subscribe(WATCH, {"memberId": member_id})
        assert await ws.error_code(watch) == code


def _bad_credentials(services: Services, kind: str) -> dict:
    settings = services.settings
    return {
        "forged": lambda: bearer(mint_member_token(settings, 1) + "x"),
        "expired": lambda: bearer(
            mint_member_token(settings, 1, now=datetime.now(UTC) - timedelta(days=30))
        ),
        "no-such-member": lambda: bearer(mint_member_token(settings, 987654)),
        "unknown-key": lambda: {"X-Api-Key": "bmg_000000000000_secretsecretsecret"},
    }[kind]()


async def close_code_after_init(url: str, *, payload: dict, headers: dict | None = None) -> int:
    """The close code of a connection whose connection_init the server refuses."""
    async with connect(
        url, subprotocols=[PROTOCOL], additional_headers=headers or {}, proxy=None
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


@pytest.mark.parametrize("kind", ["forged", "expired", "no-such-member", "unknown-key"])
async def test_bad_credentials_close_the_socket_with_4403(live, services, people, kind):
    """Bad credentials are not served as anonymous: in connection_init or in the upgrade
    request, the socket closes with 4403 before anything runs."""
    url = f"ws://{live}/graphql"
    assert await close_code_after_init(url, payload=_bad_credentials(services, kind)) == 4403
    headers = _bad_credentials(services, kind)
    assert await close_code_after_init(url, payload={}, headers=headers) == 4403
    # good credentials in connection_init replace bad ones of the upgrade request
    good = bearer(member_token(services, people["member"]))
    async with graphql_ws(url, headers=headers, payload=good) as ws:
        watch = await ws.subscribe(WATCH)
        assert (await ws.next_data(watch))["pointsChanged"]["available"] == 0


async def test_a_subscription_ends_when_its_token_expires(live, services, people):
    member, till = people["member"], Till(f"http://{live}", people["key"])
    token = mint_member_token(services.settings, member, ttl_seconds=2)
    async with graphql_ws(f"ws://{live}/graphql", payload=bearer(token)) as ws:
        watch = await ws.subscribe(WATCH)
        assert (await ws.next_data(watch))["pointsChanged"]["available"] == 0
        message = await ws.receive(wait=15)  # nothing changes: the expiry ends it
        assert message["type"] == "next" and message["id"] == watch, message
        [error] = message["payload"]["errors"]
        assert error["extensions"] == {"code": "UNAUTHENTICATED", "reason": "TOKEN_EXPIRED"}
        assert (await ws.receive())["type"] == "complete"
        await till.earn(member, "10.00")
        assert await ws.silent_for(0.5)


async def test_connection_params_override_the_upgrade_headers(live, services, people):
    own = bearer(member_token(services, people["other"]))
    payload = bearer(member_token(services, people["member"]))
    async with graphql_ws(f"ws://{live}/graphql", headers=own, payload=payload) as ws:
        watch = await ws.subscribe(WATCH, {"memberId": str(people["other"])})
        assert await ws.error_code(watch) == "FORBIDDEN"


def test_credentials_are_read_flat_or_under_headers():
    assert connection_headers({"Authorization": "Bearer t", "x-trace": 1}) == {
        "authorization": "Bearer t"
    }
    assert connection_headers({"headers": {"X-Api-Key": "k"}}) == {"x-api-key": "k"}
    assert connection_headers(None) == connection_headers(["Bearer t"]) == {}


async def test_subscriptions_are_not_served_over_http(client_for, services, people):
    token = member_token(services, people["member"])
    async with client_for(services) as http:
        response = await http.post("/graphql", json={"query": WATCH}, headers=bearer(token))
    assert response.status_code == 400
    assert response.text == "subscriptions are not allowed when using POST"


@pytest.fixture
def client_for():
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def open_client(services: Services):
        transport = httpx.ASGITransport(app=create_app(services=services))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            yield http

    return open_client


# --- The event stream itself -------------------------------------------------------------------


async def test_a_burst_of_changes_costs_one_read(redis_client, redis_prefix):
    feed = PointsFeed(redis_client, redis_prefix)
    changes = feed.changes(7)
    await anext(changes)  # subscribed
    for _ in range(5):
        assert await publish_points_changed(redis_client, redis_prefix, 7)
    await publish_points_changed(redis_client, redis_prefix, 8)  # someone else's
    await asyncio.sleep(0.1)
    await asyncio.wait_for(anext(changes), 5)
    waiting = asyncio.ensure_future(anext(changes))
    await asyncio.sleep(0.3)
    assert not waiting.done()  # the burst was drained in one pass
    await publish_points_changed(redis_client, redis_prefix, 7)
    await asyncio.wait_for(waiting, 5)
    await changes.aclose()
    await feed.aclose()


async def test_a_lost_announcement_does_not_fail_the_caller():
    class DownRedis:
        async def publish(self, channel: str, message: str) -> int:
            raise ConnectionError("redis is down")

    assert await publish_points_changed(DownRedis(), "p:", 1) is False


async def test_jobs_announce_each_member_after_commit(
    units, uow_factory, sessions, redis_client, redis_prefix, services
):
    async with uow_factory() as uow:
        member = await new_member(uow, "MALL")
        await earn(uow, member, "100", unit="MALL")  # pending for the return window
    changes = services.points_feed.changes(member)
    await anext(changes)
    report = await release_pending(
        sessions, now=NOW + timedelta(days=8), tz=TZ, relay=services.relay
    )
    assert report.members == 1
    await asyncio.wait_for(anext(changes), 5)
    await changes.aclose()


# --- Out of process: `python -m app serve`, one worker and two ------------------------------


@pytest.fixture
def gateways(database_url, tmp_path):
    """Start gateway processes sharing the test database and a Redis prefix of their own."""
    started: list[GatewayProcess] = []
    prefix = f"bmgtest:{uuid.uuid4().hex[:8]}:"

    def start(count: int = 1, redis_url: str | None = None) -> list[GatewayProcess]:
        new = [
            GatewayProcess(
                database_url,
                tmp_path / f"gateway-{len(started) + i}.log",
                REDIS_URL=redis_url or os.environ.get("REDIS_URL"),
                REDIS_PREFIX=prefix,
            )
            for i in range(count)
        ]
        started.extend(new)
        for gateway in new:
            gateway.wait_ready()
        return new

    yield start
    for gateway in started:
        gateway.stop()


async def test_a_served_gateway_pushes_changes_and_logs_them(gateways, people):
    [gateway] = gateways()
    member, settings = people["member"], Settings()
    till = Till(gateway.base, people["key"])
    token = mint_member_token(settings, member)
    async with graphql_ws(gateway.ws_url, payload=bearer(token)) as ws:
        watch = await ws.subscribe(WATCH)
        assert (await ws.next_data(watch))["pointsChanged"]["available"] == 0
        await till.earn(member, "100.00", request_id="e2e-earn-1")
        assert (await ws.next_data(watch))["pointsChanged"]["available"] == 200
        async with httpx.AsyncClient(base_url=gateway.base, timeout=10) as http:
            metrics = (await http.get("/metrics")).text
        assert 'bmg_graphql_subscriptions_active{operation="Watch"} 1.0' in metrics
        assert 'bmg_graphql_requests_total{operation="TillEarn",type="mutation"} 1.0' in metrics
    gateway.stop()
    logs = gateway.logs()
    entries = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert entries and len(entries) == len(logs.splitlines())  # JSON, one object a line
    [earned] = [e for e in entries if e.get("request_id") == "e2e-earn-1"]
    assert earned["logger"] == "app.request" and earned["status"] == 200
    assert (earned["operation"], earned["caller"]) == ("TillEarn", "partner")
    socket_lines = [e for e in entries if e.get("method") == "WEBSOCKET"]
    assert socket_lines and socket_lines[0]["caller"] == "member"
    assert socket_lines[0]["operation"] == "Watch"
    for secret in (people["key"], token):
        assert secret not in logs


@NEEDS_SHARED_REDIS
async def test_two_workers_share_changes_through_redis(gateways, people):
    first, second = gateways(2, redis_url=SHARED_REDIS)
    member = people["member"]
    till = Till(second.base, people["key"])
    token = mint_member_token(Settings(), member)
    async with graphql_ws(first.ws_url, payload=bearer(token)) as ws:
        watch = await ws.subscribe(WATCH)
        assert (await ws.next_data(watch))["pointsChanged"]["available"] == 0
        await till.earn(member, "100.00")  # through the other worker
        assert (await ws.next_data(watch))["pointsChanged"]["available"] == 200
        await till.spend(member, 100)
        assert (await ws.next_data(watch))["pointsChanged"]["available"] == 100
