"""A small graphql-transport-ws client for tests, on the `websockets` package."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

PROTOCOL = Subprotocol("graphql-transport-ws")


class GraphQLWebSocket:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._ids = itertools.count(1)

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self, wait: float = 10) -> dict[str, Any]:
        """The next message other than a ping (pings are answered)."""
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), wait))
            if message["type"] == "ping":
                await self.send({"type": "pong"})
                continue
            return message

    async def subscribe(self, query: str, variables: dict | None = None) -> str:
        operation_id = str(next(self._ids))
        payload = {"query": query, "variables": variables or {}}
        await self.send({"id": operation_id, "type": "subscribe", "payload": payload})
        return operation_id

    async def next_data(self, operation_id: str, wait: float = 10) -> dict[str, Any]:
        """The data of the next `next` message for this operation (errors fail the test)."""
        message = await self.receive(wait)
        assert message.get("id") == operation_id, message
        assert message["type"] == "next" and "errors" not in message["payload"], message
        return message["payload"]["data"]

    async def error_code(self, operation_id: str, wait: float = 10) -> str | None:
        """extensions.code of the error that ends this operation."""
        message = await self.receive(wait)
        assert message.get("id") == operation_id, message
        if message["type"] == "error":
            errors = message["payload"]
        else:
            assert message["type"] == "next", message
            errors = message["payload"]["errors"]
        return errors[0].get("extensions", {}).get("code")

    async def complete(self, operation_id: str) -> None:
        await self.send({"id": operation_id, "type": "complete"})

    async def silent_for(self, seconds: float) -> bool:
        """True when nothing but pings arrives within `seconds`."""
        try:
            await self.receive(wait=seconds)
        except TimeoutError:
            return True
        return False


@asynccontextmanager
async def graphql_ws(
    url: str, *, payload: dict | None = None, headers: dict | None = None
) -> AsyncIterator[GraphQLWebSocket]:
    """An acknowledged graphql-transport-ws connection (connection_init carries `payload`)."""
    async with connect(
        url, subprotocols=[PROTOCOL], additional_headers=headers or {}, proxy=None
    ) as ws:
        client = GraphQLWebSocket(ws)
        await client.send({"type": "connection_init", "payload": payload or {}})
        ack = await client.receive()
        assert ack["type"] == "connection_ack", ack
        yield client
