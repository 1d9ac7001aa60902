"""Sending one signed webhook over HTTP: the dispatcher's (app.jobs.webhooks) only contact with
the endpoints' systems.

A POST of the body as `application/json` with the signature headers, within `timeout`
seconds (connecting, sending and reading the answer together), never following a redirect
(it could lead anywhere). The host is checked again before each request (it may resolve
elsewhere since the endpoint was created: app.platform.addresses). Only the first KiB of an
answer is read, for the delivery log; `Retry-After` (seconds or an HTTP date) is read from any
answer. Nothing here logs the headers or the body.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx

from app.platform.addresses import AddressRefused, check_url

READ_LIMIT = 1024
USER_AGENT = "big-membership-gateway-webhooks/1"


@dataclass(frozen=True)
class Answer:
    """What one POST got: a status and the start of the answer, or an error before either."""

    status_code: int | None
    duration_ms: int
    error: str | None = None
    excerpt: str | None = None
    retry_after: timedelta | None = None


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A `Retry-After` header as a wait: delta-seconds or an HTTP date; None if absent or
    unreadable."""
    text = (value or "").strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return timedelta(seconds=min(int(text), 10**9))
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(moment - now, timedelta(0))


class WebhookSender:
    """POSTs signed bodies to endpoints."""

    def __init__(
        self,
        *,
        timeout: float,
        private_ok: bool,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self.private_ok = private_ok
        self.client = client or httpx.AsyncClient(follow_redirects=False)
        self.clock = clock

    async def send(self, url: str, body: str, headers: Mapping[str, str]) -> Answer:
        started = self.clock()

        def took() -> int:
            return int((self.clock() - started) * 1000)

        try:
            await check_url(url, private_ok=self.private_ok)
        except AddressRefused as refused:
            return Answer(None, took(), error=f"refused: {refused}")
        try:
            async with asyncio.timeout(self.timeout):
                return await self._post(url, body, headers, took)
        except TimeoutError:
            return Answer(None, took(), error=f"timed out after {self.timeout:g} s")
        except httpx.HTTPError as error:
            return Answer(None, took(), error=f"{type(error).__name__}: {error}"[:200])

    async def _post(
        self, url: str, body: str, headers: Mapping[str, str], took: Callable[[], int]
    ) -> Answer:
        request_headers = {
            **headers,
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }
        async with self.client.stream(
            "POST", url, content=body.encode(), headers=request_headers, timeout=self.timeout
        ) as response:
            read = b""
            async for chunk in response.aiter_bytes():
                read += chunk
                if len(read) >= READ_LIMIT:
                    break
        excerpt = read[:READ_LIMIT].decode("utf-8", errors="replace").strip() or None
        return Answer(
            response.status_code,
            took(),
            excerpt=excerpt,
            retry_after=retry_after(response.headers.get("retry-after"), datetime.now(UTC)),
        )

    async def aclose(self) -> None:
        await self.client.aclose()
