"""A partner's webhook receiver on loopback: a real HTTP server (uvicorn on port 0) that
verifies every delivery with `standardwebhooks` under the secrets it is given, keeps what it
verified, and answers as the test says (fail a message's first attempt, answer a status,
hang until released)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.fake_pms import serving


@dataclass
class Delivery:
    webhook_id: str
    body: dict[str, Any]
    raw: str
    headers: dict[str, str]


@dataclass
class Receiver:
    secrets: list[str] = field(default_factory=list)
    fail_first: bool = False  # answer 500 to the first attempt of each webhook-id
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)  # added to every answer
    hang: bool = False  # never answer until `release` is set
    verified: list[Delivery] = field(default_factory=list)
    unverified: int = 0
    attempts: dict[str, int] = field(default_factory=dict)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.app = Starlette(routes=[Route("/hook", self.answer, methods=["POST"])])

    async def answer(self, request: Request) -> Response:
        raw = (await request.body()).decode()
        headers = {k.lower(): v for k, v in request.headers.items()}
        webhook_id = headers.get("webhook-id", "")
        self.attempts[webhook_id] = self.attempts.get(webhook_id, 0) + 1
        self.arrived.set()
        if self.hang:
            await self.release.wait()
        if not any(self._verifies(secret, raw, headers) for secret in self.secrets):
            self.unverified += 1
            return PlainTextResponse("bad signature", status_code=400)
        if self.fail_first and self.attempts[webhook_id] == 1:
            return PlainTextResponse("try again later", status_code=500)
        if 200 <= self.status < 300:
            self.verified.append(Delivery(webhook_id, json.loads(raw), raw, headers))
        return PlainTextResponse("ok" if self.status < 300 else "no", self.status, self.headers)

    @staticmethod
    def _verifies(secret: str, raw: str, headers: dict[str, str]) -> bool:
        try:
            Webhook(secret).verify(raw, headers)
        except WebhookVerificationError:
            return False
        return True

    def ids(self) -> list[str]:
        return [delivery.webhook_id for delivery in self.verified]


@asynccontextmanager
async def receiving(receiver: Receiver) -> AsyncIterator[str]:
    """Run `receiver` on a loopback port for the block; yields its URL."""
    async with serving(receiver) as base:  # type: ignore[arg-type]
        yield f"{base}/hook"
