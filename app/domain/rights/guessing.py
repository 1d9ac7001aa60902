"""Voucher codes cannot be guessed by brute force: unknown codes are counted per caller.

- Every lookup or write-off whose code is unknown (or mistyped) counts one miss for the caller
  (a partner key, an operator); after `limit` misses within `seconds`, the caller's lookups and
  write-offs are refused with THROTTLED — before any lookup, so a throttled caller learns
  nothing, not even that a guess was right — until the window has room again.
- A code has 31^12 (about 7.9e17) possible bodies, each with one right check character, so with
  a million vouchers issued one guess in about 7.9e11 hits one; at the default 10 misses per
  10 minutes (one guess a minute) that takes a key about 1.5 million years.
- The count lives in Redis (app.domain.abuse.velocity's sliding window), shared by every
  worker. When Redis does not answer within `wait` seconds the worker counts in its own memory
  instead, so a Redis outage does not switch the protection off; the tills keep working.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from app.domain.abuse.velocity import Window, count, note_distinct
from app.domain.shared.errors import DomainError, ErrorCode

log = logging.getLogger(__name__)

# Redis answers these in well under a millisecond here; a lookup at the till must not wait on a
# hung one for the socket timeout (seconds).
REDIS_WAIT_SECONDS = 0.25


class CodeGuessing:
    """One worker's view of how many unknown codes each caller tried lately."""

    def __init__(
        self,
        redis: Any,
        *,
        prefix: str,
        limit: int,
        seconds: int,
        wait: float = REDIS_WAIT_SECONDS,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.limit = limit
        self.seconds = seconds
        self.wait = wait
        self._local: dict[str, deque[datetime]] = {}

    def _window(self, caller: str) -> Window:
        return Window(f"{self.prefix}voucher-miss:{caller}", self.limit, self.seconds)

    async def check(self, caller: str, now: datetime) -> None:
        """THROTTLED when `caller` has used up its unknown codes for now (limit 0: off)."""
        if self.limit <= 0:
            return
        misses = await self._shared(
            lambda: count(self.redis, window=self._window(caller), now=now),
            fallback=lambda: self._recent(caller, now),
        )
        if misses >= self.limit:
            raise DomainError(
                ErrorCode.THROTTLED,
                f"too many unknown voucher codes; try again within {self.seconds // 60 or 1} min",
                "code",
            )

    async def miss(self, caller: str, code: str, now: datetime) -> None:
        """Count one unknown code for `caller` (the same code twice counts once per moment)."""
        if self.limit <= 0:
            return
        window = self._window(caller)
        self._remember(caller, now)
        await self._shared(
            lambda: note_distinct(
                self.redis,
                key=window.key,
                member=f"{now.timestamp():.6f}:{code[:32]}",
                now=now,
                seconds=self.seconds,
            ),
            fallback=lambda: 0,
        )

    async def _shared(self, call: Callable[[], Any], *, fallback: Callable[[], int]) -> int:
        try:
            async with asyncio.timeout(self.wait):
                return int(await call())
        except Exception:  # Redis away or slow: this worker's own count stands in
            log.warning("voucher guessing: Redis did not answer; counting locally")
            return fallback()

    def _remember(self, caller: str, now: datetime) -> None:
        seen = self._local.setdefault(caller, deque(maxlen=max(self.limit, 1)))
        seen.append(now)
        if len(self._local) > 10_000:  # bound the memory: forget the oldest caller
            self._local.pop(next(iter(self._local)))

    def _recent(self, caller: str, now: datetime) -> int:
        since = now - timedelta(seconds=self.seconds)
        return sum(1 for at in self._local.get(caller, ()) if at > since)
