"""A remote format system on loopback, speaking the sources' JSON contract: a real HTTP server
(uvicorn on port 0) whose behaviour a test switches, and which counts what reached it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


class FakePms:
    """mode: "ok" answers; "fail" answers 503; "reject" answers 400; "slow" never answers
    until the server stops; "garbage" answers 200 with a body outside the contract.
    `hold` makes "ok" answers wait for `release` (to pile requests up)."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.hold = False
        self.release = asyncio.Event()
        self.hits = 0
        self.paths: list[str] = []
        self.params: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.items: dict[int, list[dict]] = {}
        self.usage: dict[int, dict] = {}
        self.app = Starlette(routes=[Route("/activity", self.answer), Route("/usage", self.answer)])

    def add_stay(self, member_id: int, ref: str, at: datetime, amount: str) -> None:
        """A stay the PMS will list (kept newest first, as the contract says)."""
        self.items.setdefault(member_id, []).append(
            {
                "kind": "STAY",
                "ref": ref,
                "occurredAt": at.isoformat(),
                "endedAt": None,
                "amount": amount,
                "description": f"stay {ref}",
                "detail": {"nights": 1, "roomType": "DELUXE"},
            }
        )
        self.items[member_id].sort(key=lambda i: (i["occurredAt"], i["ref"]), reverse=True)

    async def answer(self, request: Request) -> Response:
        self.hits += 1
        self.paths.append(request.url.path)
        self.params.append(dict(request.query_params))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.mode == "slow" or (self.mode == "ok" and self.hold):
                await self.release.wait()
            if self.mode == "fail":
                return JSONResponse({"error": "PMS down"}, status_code=503)
            if self.mode == "reject":
                return JSONResponse({"error": "bad request"}, status_code=400)
            if self.mode == "garbage":
                return Response("<html>maintenance</html>", media_type="text/html")
            members = [int(m) for m in request.query_params["members"].split(",")]
            if request.url.path == "/usage":
                found = {str(m): self.usage[m] for m in members if m in self.usage}
                return JSONResponse({"members": found})
            limit = int(request.query_params["limit"])
            until = request.query_params.get("until")
            listing = {}
            for m in members:
                items = self.items.get(m, [])
                if until:
                    bound = datetime.fromisoformat(until)
                    items = [i for i in items if datetime.fromisoformat(i["occurredAt"]) <= bound]
                listing[str(m)] = items[:limit]
            return JSONResponse({"members": listing})
        finally:
            self.in_flight -= 1


@asynccontextmanager
async def serving(pms: FakePms) -> AsyncIterator[str]:
    """Run `pms` on a loopback port for the block; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(pms.app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    assert server.started, "the fake PMS did not start"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        pms.release.set()
        server.should_exit = True
        await task
        sock.close()
