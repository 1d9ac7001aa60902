"""Sliding-window counters in Redis: how many events a key saw in the last N seconds.

Each window is a sorted set whose members are events scored by their time in milliseconds
(the caller's clock, so tests move it). `admit` checks every window and adds the event to all
of them in one Lua script: atomic across concurrent requests and gateway workers, and a refused
event is not added, so refusals never use up a window. Events older than the window are
trimmed on each call; the key's TTL (the window) cleans up idle keys.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

_ADMIT = """
local now = tonumber(ARGV[1])
local entry = ARGV[2]
for i = 1, #KEYS do
  local window = tonumber(ARGV[1 + 2 * i])
  local limit = tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  if redis.call('ZCARD', KEYS[i]) >= limit then
    return i
  end
end
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now, entry)
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[1 + 2 * i]))
end
return 0
"""

_DISTINCT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('PEXPIRE', KEYS[1], window)
return redis.call('ZCARD', KEYS[1])
"""


@dataclass(frozen=True)
class Window:
    """At most `limit` events in any `seconds`-long stretch, counted under a Redis `key`."""

    key: str
    limit: int
    seconds: int

    @property
    def millis(self) -> int:
        return self.seconds * 1000


def millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def new_entry(moment: datetime) -> str:
    """A unique event id (two events in the same millisecond stay two)."""
    return f"{millis(moment)}-{uuid.uuid4().hex[:12]}"


async def admit(redis: Any, *, windows: list[Window], now: datetime, entry: str) -> Window | None:
    """Count one event in every window, or in none: the first full window, or None if admitted."""
    if not windows:
        return None
    args: list[Any] = [millis(now), entry]
    for window in windows:
        args += [window.millis, window.limit]
    refused = int(await redis.eval(_ADMIT, len(windows), *[w.key for w in windows], *args))
    return windows[refused - 1] if refused else None


async def forget(redis: Any, *, keys: list[str], entry: str) -> None:
    """Take an admitted event back out of its windows (its request did not go through)."""
    for key in keys:
        await redis.zrem(key, entry)


async def count(redis: Any, *, window: Window, now: datetime) -> int:
    """Events in the window ending at `now` (start exclusive)."""
    return int(await redis.zcount(window.key, f"({millis(now) - window.millis}", "+inf"))


async def note_distinct(redis: Any, *, key: str, member: str, now: datetime, seconds: int) -> int:
    """Note `member` as seen at `now` under `key`; how many distinct members it saw within
    the last `seconds`."""
    return int(await redis.eval(_DISTINCT, 1, key, millis(now), seconds * 1000, member))
