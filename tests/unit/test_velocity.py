"""Sliding windows in Redis (or fakeredis, whichever REDIS_URL picks): count, refuse, slide."""

from __future__ import annotations

from datetime import timedelta

from app.domain.abuse.velocity import Window, admit, count, forget, new_entry, note_distinct
from tests.conftest import NOW


async def admit_at(redis, windows, moment):
    return await admit(redis, windows=windows, now=moment, entry=new_entry(moment))


async def test_a_window_admits_up_to_its_limit_then_refuses(redis_client, redis_prefix):
    hour = Window(redis_prefix + "m", limit=3, seconds=3600)
    results = [await admit_at(redis_client, [hour], NOW + timedelta(seconds=i)) for i in range(5)]
    assert results == [None, None, None, hour, hour]
    assert await count(redis_client, window=hour, now=NOW + timedelta(seconds=5)) == 3


async def test_the_window_slides_and_refusals_do_not_use_it_up(redis_client, redis_prefix):
    hour = Window(redis_prefix + "m", limit=2, seconds=3600)
    assert await admit_at(redis_client, [hour], NOW) is None
    assert await admit_at(redis_client, [hour], NOW + timedelta(minutes=30)) is None
    for minutes in (31, 45, 59):  # refused attempts are not counted
        assert await admit_at(redis_client, [hour], NOW + timedelta(minutes=minutes)) == hour
    # an hour after the first event it has left the window (the start is exclusive): one free
    assert await admit_at(redis_client, [hour], NOW + timedelta(minutes=60)) is None
    assert await admit_at(redis_client, [hour], NOW + timedelta(minutes=61)) == hour
    assert await count(redis_client, window=hour, now=NOW + timedelta(minutes=61)) == 2
    assert await count(redis_client, window=hour, now=NOW + timedelta(minutes=120)) == 0


async def test_an_event_counts_in_every_window_or_in_none(redis_client, redis_prefix):
    member = Window(redis_prefix + "member", limit=5, seconds=3600)
    device = Window(redis_prefix + "device", limit=2, seconds=3600)
    assert await admit_at(redis_client, [member, device], NOW) is None
    assert await admit_at(redis_client, [member, device], NOW) is None
    assert await admit_at(redis_client, [member, device], NOW) == device
    assert await count(redis_client, window=member, now=NOW) == 2  # the refusal left no trace
    assert await admit_at(redis_client, [member], NOW) is None


async def test_forget_takes_an_admitted_event_back(redis_client, redis_prefix):
    hour = Window(redis_prefix + "m", limit=1, seconds=3600)
    entry = new_entry(NOW)
    assert await admit(redis_client, windows=[hour], now=NOW, entry=entry) is None
    assert await admit_at(redis_client, [hour], NOW) == hour
    await forget(redis_client, keys=[hour.key], entry=entry)
    assert await admit_at(redis_client, [hour], NOW) is None


async def test_distinct_members_per_key_within_a_window(redis_client, redis_prefix):
    key = redis_prefix + "device-members"
    day = 86400
    seen = [
        await note_distinct(redis_client, key=key, member=m, now=NOW, seconds=day)
        for m in ("1", "2", "1", "3", "2")
    ]
    assert seen == [1, 2, 2, 3, 3]
    later = NOW + timedelta(hours=23)
    assert await note_distinct(redis_client, key=key, member="1", now=later, seconds=day) == 3
    # a day after 2 and 3 were last seen only member 1 (seen again at +23h) and 4 are left
    next_day = NOW + timedelta(days=1)
    assert await note_distinct(redis_client, key=key, member="4", now=next_day, seconds=day) == 2
