"""The flash sale's gate (积分秒杀): Redis admits or refuses an attempt before any database
transaction; PostgreSQL stays the truth.

- An item with `flash_sale` set has a state in Redis: whether it is gated, its sale window, the
  stock the gate may still admit, the per-member limit, and each member's count. One Lua script
  (`ADMIT`) reads and changes it atomically: outside the window NOT_ON_SALE, over the member's
  limit LIMIT_REACHED, too little stock OUT_OF_STOCK (the database's order), else it takes the
  stock and counts the member: the attempt is admitted and places its order through
  `place_order` as any other (member lock, conditional stock UPDATE, limit, points), which has
  the last word.
- A refusal costs one Redis round trip and no database transaction: in a rush of thousands of
  attempts on a hundred units, all but about a hundred stop at the gate.
- An admitted attempt the database refuses gives its admission back (`settle`): its stock and
  the member's count (OUT_OF_STOCK sets the gate's stock to nothing: the database knows better).
  An attempt whose outcome is unknown (the connection lost) keeps its admission: the gate may
  then undersell for a moment, never oversell, since the database decides.
- The state is rebuilt from the database (`load`: the item's terms and stock, each member's
  count of orders not cancelled or expired) when it is missing; it lives `STATE_SECONDS`, so
  stock a cancel gives back, or an operator's edit, reaches the gate within that time.
- Stock that moves without passing the gate reaches it as soon as it is committed (`moved`,
  called by app.domain.mall.orders after the commit): an order ops place for a member takes
  the stock and counts the member; a cancel or an expiry gives both back. Only a state the gate
  holds is adjusted (none: the next attempt rebuilds it from the database, which has the
  change). The one window left: a rebuild that read the database before the commit and wrote
  its state after `moved` found none misses the change until the state lives out its
  `STATE_SECONDS`, and one that read after the commit but wrote before `moved` counts it twice;
  either way the database still decides, so the gate may undersell or let a few attempts
  through to a refusal for that moment, never oversell.
- The admission key (caller and idempotency key) is remembered, so a retry of an admitted
  request goes on to the database, which replays its first result, instead of being refused by
  the limit its first attempt used.
- Redis down or not configured (`Verdict.DOWN`): every attempt goes to the database, which alone
  still sells exactly the stock, only slower (scripts/bench: flash-sale).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import func, select

from app.domain.mall.orders import ENDED
from app.domain.shared.errors import DomainError, ErrorCode
from app.models import MallItem, MallOrder
from app.platform.uow import UnitOfWork

log = logging.getLogger(__name__)
T = TypeVar("T")

# Long enough that a rush rebuilds the state a handful of times, short enough that a unit a
# cancel gives back is on sale again soon; a rebuild is two indexed reads.
STATE_SECONDS = 10
# How long a retry of an admitted request is let through to the database's replay.
ADMISSION_SECONDS = 3600
# Script calls in flight per worker: redis-py's pool (100 connections) refuses the 101st
# concurrent call ("Too many connections", seen with 2,000 attempts at once in scripts/bench),
# so a rush queues here instead of finding the gate down.
IN_FLIGHT = 64

ADMIT = """
local gated = redis.call('HGET', KEYS[1], 'gated')
if not gated then return -1 end
if gated == '0' then return 3 end
if redis.call('EXISTS', KEYS[3]) == 1 then return 2 end
local now = tonumber(ARGV[3])
local starts = tonumber(redis.call('HGET', KEYS[1], 'starts'))
local ends = tonumber(redis.call('HGET', KEYS[1], 'ends'))
if (starts > 0 and now < starts) or (ends > 0 and now >= ends) then return -3 end
local q = tonumber(ARGV[1])
local limit = tonumber(redis.call('HGET', KEYS[1], 'limit'))
if limit > 0 and tonumber(redis.call('GET', KEYS[2]) or '0') + q > limit then return -2 end
if tonumber(redis.call('HGET', KEYS[1], 'stock')) < q then return 0 end
redis.call('HINCRBY', KEYS[1], 'stock', -q)
redis.call('INCRBY', KEYS[2], q)
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('SET', KEYS[3], q, 'EX', ARGV[4])
return 1
"""

LOAD = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'gated', ARGV[1], 'stock', ARGV[2], 'limit', ARGV[3],
           'starts', ARGV[4], 'ends', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[6])
for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[i + 5], 'EX', ARGV[6]) end
return 1
"""

SETTLE = """
if ARGV[2] == '1' then
    if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'stock', 0) end
elseif redis.call('EXISTS', KEYS[1]) == 1 then
    redis.call('HINCRBY', KEYS[1], 'stock', ARGV[1])
end
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECRBY', KEYS[2], ARGV[1]) end
redis.call('DEL', KEYS[3])
return 1
"""


MOVED = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local q = tonumber(ARGV[1])
local stock = tonumber(redis.call('HGET', KEYS[1], 'stock')) - q
if stock < 0 then stock = 0 end
redis.call('HSET', KEYS[1], 'stock', stock)
local count = tonumber(redis.call('GET', KEYS[2]) or '0') + q
if count < 0 then count = 0 end
redis.call('SET', KEYS[2], count, 'EX', ARGV[2])
return 1
"""


class Verdict(StrEnum):
    ADMITTED = "ADMITTED"  # go on to the database; `settle` after a refusal
    PASS = "PASS"  # not a flash sale, or a retry of an admitted request: the database decides
    DOWN = "DOWN"  # no Redis: the database alone decides
    UNKNOWN = "UNKNOWN"  # no state for the item yet: `load` it
    OUT_OF_STOCK = "OUT_OF_STOCK"
    LIMIT_REACHED = "LIMIT_REACHED"
    NOT_ON_SALE = "NOT_ON_SALE"


_ANSWERS = {
    1: Verdict.ADMITTED,
    2: Verdict.PASS,
    3: Verdict.PASS,
    0: Verdict.OUT_OF_STOCK,
    -1: Verdict.UNKNOWN,
    -2: Verdict.LIMIT_REACHED,
    -3: Verdict.NOT_ON_SALE,
}
REFUSALS = {
    Verdict.OUT_OF_STOCK: (ErrorCode.OUT_OF_STOCK, "sold out"),
    Verdict.LIMIT_REACHED: (ErrorCode.LIMIT_REACHED, "you have your share of this sale"),
    Verdict.NOT_ON_SALE: (ErrorCode.NOT_ON_SALE, "this sale is not open"),
}


@dataclass(frozen=True)
class Attempt:
    """One attempt at the gate: whose, for what, under which request key."""

    item_id: int
    member_id: int
    quantity: int
    key: str  # the caller and its idempotency key


def _epoch(moment: datetime | None) -> int:
    return int(moment.timestamp()) if moment is not None else 0


class FlashGate:
    """The gate over Redis (None: there is none, every attempt is DOWN)."""

    def __init__(self, redis: Any, *, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._admit = redis.register_script(ADMIT) if redis is not None else None
        self._load = redis.register_script(LOAD) if redis is not None else None
        self._settle = redis.register_script(SETTLE) if redis is not None else None
        self._moved = redis.register_script(MOVED) if redis is not None else None
        self._loading: dict[int, asyncio.Lock] = {}
        self._in_flight = asyncio.Semaphore(IN_FLIGHT)
        self._down = False  # said so in the log already

    def _unavailable(self, error: Exception) -> None:
        """Log the gate going down once, not once per attempt of a rush."""
        if not self._down:
            log.warning("flash gate unavailable, the database decides alone: %s", error)
        self._down = True

    def _state(self, item_id: int) -> str:
        return f"{self.prefix}flash:{{{item_id}}}"  # one hash slot per item (Redis Cluster)

    def _count(self, item_id: int, member_id: int) -> str:
        return f"{self.prefix}flash:{{{item_id}}}:m:{member_id}"

    def _key(self, attempt: Attempt) -> str:
        return f"{self.prefix}flash:{{{attempt.item_id}}}:k:{attempt.key}"

    def _keys(self, attempt: Attempt) -> list[str]:
        item, member = attempt.item_id, attempt.member_id
        return [self._state(item), self._count(item, member), self._key(attempt)]

    async def admit(self, attempt: Attempt, *, now: datetime) -> Verdict:
        """The gate's verdict on `attempt` (-1 from the script: no state, the caller loads)."""
        if self._admit is None:
            return Verdict.DOWN
        args = [attempt.quantity, STATE_SECONDS, int(now.timestamp()), ADMISSION_SECONDS]
        try:
            async with self._in_flight:
                answer = int(await self._admit(keys=self._keys(attempt), args=args))
        except Exception as error:  # Redis down or slow: the database decides
            self._unavailable(error)
            return Verdict.DOWN
        self._down = False
        return _ANSWERS.get(answer, Verdict.DOWN)

    async def enter(self, open_uow: Any, attempt: Attempt, *, now: datetime) -> Verdict:
        """The verdict, after rebuilding the item's state from the database (`open_uow()`: a
        unit of work) if the gate had none; still none: the database decides."""
        verdict = await self.admit(attempt, now=now)
        if verdict != Verdict.UNKNOWN:
            return verdict
        # One load per item at a time in this process: the rush's first thousand attempts
        # wait for it rather than each reading the database (scripts/bench: flash-sale).
        async with self._loading.setdefault(attempt.item_id, asyncio.Lock()):
            verdict = await self.admit(attempt, now=now)
            if verdict != Verdict.UNKNOWN:
                return verdict
            async with open_uow() as uow:
                loaded = await self.load(uow, attempt.item_id)
        verdict = await self.admit(attempt, now=now) if loaded else Verdict.DOWN
        return Verdict.PASS if verdict == Verdict.UNKNOWN else verdict

    async def load(self, uow: UnitOfWork, item_id: int) -> bool:
        """Rebuild the item's state from the database when it has none; whether the gate
        holds a state now."""
        if self._load is None:
            return False
        item = await uow.session.get(MallItem, item_id)
        if item is None:
            return False
        gated = item.flash_sale and item.active and item.stock_remaining is not None
        counts: list[tuple[int, int]] = []
        if gated and item.per_member_limit is not None:
            rows = await uow.session.execute(
                select(MallOrder.member_id, func.sum(MallOrder.quantity))
                .where(MallOrder.item_id == item_id, MallOrder.status.not_in(ENDED))  # type: ignore[attr-defined]
                .group_by(MallOrder.member_id)
            )
            counts = [(int(member), int(total)) for member, total in rows.all()]
        keys = [self._state(item_id), *(self._count(item_id, member) for member, _ in counts)]
        args = [
            int(gated),
            item.stock_remaining or 0,
            item.per_member_limit or 0,
            _epoch(item.sale_starts_at),
            _epoch(item.sale_ends_at),
            STATE_SECONDS,
            *(total for _, total in counts),
        ]
        try:
            await self._load(keys=keys, args=args)
        except Exception as error:
            self._unavailable(error)
            return False
        return True

    async def settle(self, attempt: Attempt, refusal: ErrorCode) -> None:
        """The database refused an admitted attempt: give its admission back."""
        if self._settle is None:
            return
        sold_out = int(refusal == ErrorCode.OUT_OF_STOCK)
        try:
            async with self._in_flight:
                await self._settle(keys=self._keys(attempt), args=[attempt.quantity, sold_out])
        except Exception as error:
            self._unavailable(error)

    async def moved(self, item_id: int, member_id: int, quantity: int) -> None:
        """Committed stock that did not pass the gate: `quantity` units went to the member
        (negative: came back); adjusts the item's state if the gate holds one."""
        if self._moved is None:
            return
        keys = [self._state(item_id), self._count(item_id, member_id)]
        try:
            async with self._in_flight:
                await self._moved(keys=keys, args=[quantity, STATE_SECONDS])
        except Exception as error:  # the state lives out STATE_SECONDS; the database decides
            self._unavailable(error)

    async def forget(self, item_id: int) -> None:
        """Drop the item's state (an operator changed it): the next attempt rebuilds it."""
        if self.redis is None:
            return
        try:
            await self.redis.delete(self._state(item_id))
        except Exception as error:
            self._unavailable(error)


def refusal_of(verdict: Verdict) -> DomainError | None:
    """The gate's refusal as the domain error the database would have raised, if any."""
    found = REFUSALS.get(verdict)
    return None if found is None else DomainError(found[0], found[1], "itemId")


async def through_gate(
    gate: FlashGate,
    open_uow: Any,
    attempt: Attempt,
    *,
    now: datetime,
    place: Callable[[], Awaitable[T]],
) -> T:
    """One attempt in a flash sale: the gate's refusal (a DomainError, no database transaction),
    or `place()` (the order in its own unit of work), whose refusal gives the admission back."""
    verdict = await gate.enter(open_uow, attempt, now=now)
    refusal = refusal_of(verdict)
    if refusal is not None:
        raise refusal
    try:
        return await place()
    except DomainError as error:
        if verdict == Verdict.ADMITTED:
            await gate.settle(attempt, error.code)
        raise
