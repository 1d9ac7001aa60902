"""The per-caller leaky bucket on Redis (or fakeredis with Lua): fills, refuses with a wait,
drains with the clock, and never overdraws under concurrent requests."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from app.platform.budget import BucketSpec, QueryBudget
from tests.conftest import NOW

SPEC = BucketSpec(capacity=100, leak_per_second=10)


async def test_a_bucket_admits_until_full_then_says_how_long_to_wait(redis_client, redis_prefix):
    budget = QueryBudget(redis_client, prefix=redis_prefix)
    first = await budget.pour(caller="member:1", cost=60, spec=SPEC, now=NOW)
    assert (first.admitted, first.remaining) == (True, 40)
    second = await budget.pour(caller="member:1", cost=40, spec=SPEC, now=NOW)
    assert (second.admitted, second.remaining) == (True, 0)
    refused = await budget.pour(caller="member:1", cost=25, spec=SPEC, now=NOW)
    assert (refused.admitted, refused.remaining) == (False, 0)
    assert refused.retry_after == 2.5 and refused.retry_after_seconds == 3
    # A refusal pours nothing in: after 2.5 s exactly 25 have drained, and the 25 fit.
    later = NOW + timedelta(seconds=2.5)
    assert (await budget.pour(caller="member:1", cost=25, spec=SPEC, now=later)).admitted


async def test_buckets_drain_with_time_and_never_below_empty(redis_client, redis_prefix):
    budget = QueryBudget(redis_client, prefix=redis_prefix)
    await budget.pour(caller="member:1", cost=100, spec=SPEC, now=NOW)
    half = await budget.pour(caller="member:1", cost=0, spec=SPEC, now=NOW + timedelta(seconds=5))
    assert half.remaining == 50
    idle = NOW + timedelta(hours=1)
    assert (await budget.pour(caller="member:1", cost=0, spec=SPEC, now=idle)).remaining == 100
    # The key expires once the bucket would be empty: idle callers leave nothing behind.
    await budget.pour(caller="member:2", cost=30, spec=SPEC, now=NOW)
    assert 0 < await redis_client.ttl(budget.key("member:2")) <= 4


async def test_callers_have_buckets_of_their_own(redis_client, redis_prefix):
    budget = QueryBudget(redis_client, prefix=redis_prefix)
    assert (await budget.pour(caller="member:1", cost=100, spec=SPEC, now=NOW)).admitted
    assert not (await budget.pour(caller="member:1", cost=1, spec=SPEC, now=NOW)).admitted
    assert (await budget.pour(caller="ip:10.0.0.7", cost=100, spec=SPEC, now=NOW)).admitted


async def test_a_cost_above_the_capacity_needs_the_whole_empty_bucket(redis_client, redis_prefix):
    budget = QueryBudget(redis_client, prefix=redis_prefix)
    big = await budget.pour(caller="member:1", cost=500, spec=SPEC, now=NOW)
    assert (big.admitted, big.charged, big.remaining) == (True, 100, 0)


async def test_a_clock_behind_the_last_request_drains_nothing(redis_client, redis_prefix):
    budget = QueryBudget(redis_client, prefix=redis_prefix)
    await budget.pour(caller="member:1", cost=90, spec=SPEC, now=NOW)
    earlier = NOW - timedelta(seconds=30)  # another worker's clock, a little behind
    assert not (await budget.pour(caller="member:1", cost=20, spec=SPEC, now=earlier)).admitted


async def test_concurrent_requests_never_overdraw_a_bucket(redis_client, redis_prefix):
    budget = QueryBudget(redis_client, prefix=redis_prefix)
    pours = await asyncio.gather(
        *(budget.pour(caller="partner:7", cost=7, spec=SPEC, now=NOW) for _ in range(40))
    )
    admitted = [p for p in pours if p.admitted]
    assert len(admitted) == 100 // 7
    assert min(p.remaining for p in pours) == 100 - 7 * len(admitted)
