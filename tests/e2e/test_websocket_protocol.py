"""graphql-transport-ws with a real websocket client: a request error is the operation's
`error` message with `extensions.code` (as over HTTP), the socket stays open for the next
operation, the document limits hold as over HTTP, and the legacy `graphql-ws` subprotocol
(subscriptions-transport-ws) is refused with 4406 and a reason (issue 18)."""

from __future__ import annotations

import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.bootstrap import Services
from app.domain.access.tokens import mint_member_token
from app.main import create_app
from app.settings import Settings
from tests.e2e.graphql_ws import graphql_ws
from tests.e2e.served import served
from tests.helpers import new_member

WATCH = "subscription Watch { pointsChanged { available } }"


@pytest.fixture
def services(sessions, redis_client, redis_prefix, clock) -> Services:
    return Services(
        settings=Settings(redis_prefix=redis_prefix),
        sessions=sessions,
        redis=redis_client,
        clock=lambda: clock.now,
    )


@pytest.fixture
async def url(units, services):
    async with served(create_app(services=services)) as address:
        yield f"ws://{address}/graphql"


@pytest.fixture
async def member_auth(units, services, uow_factory) -> dict:
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
    return {"Authorization": f"Bearer {mint_member_token(services.settings, member)}"}


ALIASES = " ".join(f"a{i}: debt" for i in range(31))  # one more than MAX_QUERY_ALIASES


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"query": "subscription {"}, "GRAPHQL_PARSE_FAILED"),
        ({"query": "subscription { noSuchField }"}, "GRAPHQL_VALIDATION_FAILED"),
        ({"query": WATCH, "operationName": "Other"}, "UNKNOWN_OPERATION"),
        ({"query": WATCH + "\nsubscription Again { pointsChanged { debt } }"}, None),
        ({"query": "#" + "x" * 200_000 + "\n" + WATCH}, "QUERY_TOO_LARGE"),
        ({"query": "{ businessUnits { " + "code " * 2500 + "} }"}, "QUERY_TOO_LARGE"),
        ({"query": "subscription { pointsChanged { " + ALIASES + " } }"}, "QUERY_TOO_COMPLEX"),
    ],
    ids=[
        "syntax",
        "validation",
        "unknown-name",
        "ambiguous",
        "too-long",
        "too-many-tokens",
        "too-many-aliases",
    ],
)
async def test_a_request_error_is_an_error_message_and_the_socket_stays_open(
    url, member_auth, payload, code
):
    code = code or "OPERATION_NAME_REQUIRED"
    async with graphql_ws(url, payload=member_auth) as ws:
        await ws.send({"id": "bad", "type": "subscribe", "payload": payload})
        message = await ws.receive()
        assert message["type"] == "error" and message["id"] == "bad", message
        assert [e["extensions"]["code"] for e in message["payload"]] == [code], message
        assert "Internal" not in json.dumps(message)
        # nothing else follows for that operation, and the socket serves the next one
        good = await ws.subscribe("{ businessUnits { code } }")
        answer = await ws.receive()
        assert answer["id"] == good and answer["type"] == "next", answer
        assert answer["payload"]["data"]["businessUnits"]


async def test_a_named_operation_of_several_runs(url, member_auth):
    document = "query A { businessUnits { code } }\nquery B { __typename }"
    async with graphql_ws(url, payload=member_auth) as ws:
        await ws.send(
            {"id": "1", "type": "subscribe", "payload": {"query": document, "operationName": "B"}}
        )
        assert await ws.next_data("1") == {"__typename": "Query"}


@pytest.mark.parametrize("subprotocols", [["graphql-ws"], []], ids=["legacy", "none"])
async def test_the_legacy_subprotocol_is_refused_with_4406_and_a_reason(url, subprotocols):
    async with connect(url, subprotocols=subprotocols or None, proxy=None) as ws:
        assert ws.subprotocol is None
        with pytest.raises(ConnectionClosed) as closed:
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4406
    assert "graphql-transport-ws" in closed.value.rcvd.reason
