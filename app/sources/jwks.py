"""The published signing keys (JWKS) of an external identity provider, for verifying the
member tokens it issues (app.domain.access.tokens.decode_external_token).

The key set is fetched over HTTP and kept for `refresh_seconds`; a key id not in it triggers
one fetch (a provider that rotated its key), at most once per `min_refetch_seconds`, so a
stream of tokens with made-up key ids cannot make the gateway hammer the provider. A failed
fetch keeps the keys already known.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt

log = logging.getLogger(__name__)


class JwksKeys:
    def __init__(
        self,
        url: str,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = 3.0,
        refresh_seconds: float = 3600.0,
        min_refetch_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.client = client or httpx.AsyncClient()
        self.timeout = timeout
        self.refresh_seconds = refresh_seconds
        self.min_refetch_seconds = min_refetch_seconds
        self.clock = clock
        self.keys: dict[str, Any] = {}
        self.fetched_at: float | None = None
        self._fetching = asyncio.Lock()

    async def find(self, kid: str) -> Any:
        """The key with this id (a PyJWK), or None when the provider does not publish it."""
        now = self.clock()
        stale = self.fetched_at is None or now - self.fetched_at >= self.refresh_seconds
        may_refetch = self.fetched_at is None or now - self.fetched_at >= self.min_refetch_seconds
        if stale or (kid not in self.keys and may_refetch):
            async with self._fetching:
                if self.fetched_at is None or self.clock() - self.fetched_at >= min(
                    self.min_refetch_seconds, self.refresh_seconds
                ):
                    await self._fetch()
        return self.keys.get(kid)

    async def _fetch(self) -> None:
        self.fetched_at = self.clock()
        try:
            response = await self.client.get(self.url, timeout=self.timeout)
            response.raise_for_status()
            published = jwt.PyJWKSet.from_dict(response.json())
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as error:
            log.warning("JWKS fetch failed (%s); keeping %d known keys", error, len(self.keys))
            return
        self.keys = {key.key_id: key for key in published.keys if key.key_id}

    async def aclose(self) -> None:
        await self.client.aclose()
