"""A worker's PointsAnnouncer: requests hand it members and go on; it publishes them in
pipelined round trips, one message per member, and survives Redis failing."""

from __future__ import annotations

import asyncio
import logging

import fakeredis
import pytest

from app.platform.pubsub import CHANGED, PointsAnnouncer, points_channel

PREFIX = "t-announcer:"


class CountingRedis:
    """A fake Redis that counts the pipelines it executes (and can be made to fail)."""

    def __init__(self) -> None:
        self.redis = fakeredis.FakeAsyncRedis(decode_responses=True)
        self.round_trips = 0
        self.failing = False

    def pipeline(self, **kwargs):
        pipe = self.redis.pipeline(**kwargs)
        execute = pipe.execute
        owner = self

        async def counted(*args, **kw):
            owner.round_trips += 1
            if owner.failing:
                raise ConnectionError("Redis is down")
            return await execute(*args, **kw)

        pipe.execute = counted
        return pipe


async def _heard(pubsub, count: int) -> list[str]:
    """The channels of the next `count` messages (subscription confirmations skipped)."""
    channels: list[str] = []
    deadline = asyncio.get_running_loop().time() + 2
    while len(channels) < count:
        assert asyncio.get_running_loop().time() < deadline, f"heard only {channels}"
        message = await pubsub.get_message(timeout=0.1)
        if message is not None and message["type"] == "message":
            assert message["data"] == CHANGED
            channels.append(message["channel"])
    return channels


async def _silent(pubsub) -> bool:
    for _ in range(3):
        message = await pubsub.get_message(timeout=0.05)
        if message is not None and message["type"] == "message":
            return False
    return True


@pytest.fixture
async def setup():
    redis = CountingRedis()
    pubsub = redis.redis.pubsub()
    await pubsub.subscribe(*(points_channel(PREFIX, member) for member in (1, 2, 3)))
    yield redis, pubsub, PointsAnnouncer(redis, PREFIX)
    await pubsub.aclose()


async def test_one_round_trip_and_one_message_per_member(setup):
    redis, pubsub, announcer = setup
    for member in (2, 1, 2, 2, 1):  # one turn of the loop: five changes of two members
        announcer.announce(member)
    assert redis.round_trips == 0  # the requests did not wait
    await announcer.drain()
    assert redis.round_trips == 1
    assert await _heard(pubsub, 2) == [points_channel(PREFIX, 2), points_channel(PREFIX, 1)]
    assert await _silent(pubsub)


async def test_marks_made_during_a_round_trip_go_in_the_next(setup):
    redis, pubsub, announcer = setup
    announcer.announce(1)
    await asyncio.sleep(0)  # the send has started
    announcer.announce(2)
    announcer.announce(3)
    await announcer.drain()
    assert redis.round_trips == 2
    assert sorted(await _heard(pubsub, 3)) == [points_channel(PREFIX, m) for m in (1, 2, 3)]


async def test_redis_down_is_logged_and_later_announcements_still_go(setup, caplog):
    redis, pubsub, announcer = setup
    redis.failing = True
    with caplog.at_level(logging.WARNING, logger="app.platform.pubsub"):
        announcer.announce(1)
        await announcer.drain()  # nothing raised
    assert "not published" in caplog.text
    redis.failing = False
    announcer.announce(3)
    await announcer.drain()
    assert await _heard(pubsub, 1) == [points_channel(PREFIX, 3)]
