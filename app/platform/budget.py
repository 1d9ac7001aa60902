"""Per-caller query budgets: a leaky bucket per caller in Redis.

Each caller has a bucket of `capacity` cost points that drains at `leak_per_second`. A request
pours its cost in; when the cost does not fit, the request is refused and told how long until
it would. The bucket's level and time are read, drained and written by one Lua script, so
concurrent requests of one caller (on any number of gateway workers) never overdraw it. The
time is the gateway's clock (tests move it), passed to the script; the key expires once the
bucket would be empty, so idle callers cost Redis nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# KEYS[1]: the bucket. ARGV: capacity, leak per second, now (epoch seconds), cost.
# Returns {admitted (0/1), level after (string), seconds until the cost fits (string)}.
_POUR = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'level', 'at')
local level = tonumber(state[1]) or 0
local at = tonumber(state[2]) or now
if now > at then
  level = math.max(0, level - (now - at) * rate)
else
  now = at
end
if level + cost > capacity then
  return {0, tostring(level), tostring((level + cost - capacity) / rate)}
end
level = level + cost
redis.call('HSET', KEYS[1], 'level', tostring(level), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(level / rate) + 1)
return {1, tostring(level), '0'}
"""


@dataclass(frozen=True)
class BucketSpec:
    """The size of one caller's bucket and how fast it drains."""

    capacity: int
    leak_per_second: float


@dataclass(frozen=True)
class Pour:
    """The outcome of pouring one request's cost into a caller's bucket."""

    admitted: bool
    charged: int
    level: float
    capacity: int
    retry_after: float

    @property
    def remaining(self) -> int:
        """Cost points the caller may still spend right now."""
        return max(0, math.floor(self.capacity - self.level))

    @property
    def retry_after_seconds(self) -> int:
        """Whole seconds to wait before the refused request would fit (at least 1)."""
        return max(1, math.ceil(self.retry_after))


class QueryBudget:
    """Leaky buckets in one Redis, under `prefix`."""

    def __init__(self, redis: Any, *, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._script: Any = None

    def key(self, caller: str) -> str:
        return f"{self.prefix}budget:{caller}"

    async def pour(self, *, caller: str, cost: int, spec: BucketSpec, now: datetime) -> Pour:
        """Admit `cost` into the caller's bucket, or refuse it; raises on Redis errors.

        A cost above the capacity is charged as the capacity: such a request (allowed by the
        query cost limit) needs the whole, empty bucket rather than never fitting."""
        charged = max(0, min(cost, spec.capacity))
        if self._script is None:
            self._script = self.redis.register_script(_POUR)
        admitted, level, wait = await self._script(
            keys=[self.key(caller)],
            args=[spec.capacity, spec.leak_per_second, f"{now.timestamp():.6f}", charged],
        )
        return Pour(
            admitted=bool(int(admitted)),
            charged=charged,
            level=float(level),
            capacity=spec.capacity,
            retry_after=float(wait),
        )
