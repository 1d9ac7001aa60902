"""A hung Redis (it accepts and never answers) does not hold a member's row lock (issue 18: the
velocity screen ran inside the earn's transaction, under the lock, for the socket timeout).

The velocity screen now asks Redis before the row is locked: while one earn waits for Redis,
another earn of the same member goes through, and the waiting earn ends at its Redis bound and
is recorded unscreened (the default policy fails open)."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.domain.abuse.screening import AbusePolicy, EarnScreen
from tests.domain.test_abuse import screened_earn
from tests.helpers import assert_clean, earn, new_member


class HungRedis:
    """A TCP listener that reads what it is sent and never answers; `asked` once it was sent
    something."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> HungRedis:
        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._writers.append(writer)
            while await reader.read(4096):
                self.asked.set()

        self._server = await asyncio.start_server(hold, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for writer in self._writers:
            writer.close()
        assert self._server is not None
        self._server.close()


@pytest.fixture
async def member(units, uow_factory) -> int:
    async with uow_factory() as uow:
        return await new_member(uow, "HOTEL")


async def test_an_earn_waiting_on_a_hung_redis_does_not_block_the_members_other_earns(
    member, uow_factory, redis_prefix
):
    async with HungRedis() as hung:
        # a bound long enough that the other earn surely finishes inside it
        client = redis.from_url(
            f"redis://127.0.0.1:{hung.port}/0",
            decode_responses=True,
            socket_timeout=2.0,
            socket_connect_timeout=2.0,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            screen = EarnScreen(redis=client, prefix=redis_prefix, policy=AbusePolicy())
            waiting = asyncio.create_task(screened_earn(uow_factory, screen, member))
            await asyncio.wait_for(hung.asked.wait(), 30)  # the screened earn asks Redis now

            async with uow_factory() as uow:  # the same member's row: not locked meanwhile
                other = await earn(uow, member, "50", "HOTEL")
            assert not waiting.done()  # it finished while the first still waited on Redis

            first = await asyncio.wait_for(waiting, 30)  # the Redis bound ends the wait
        finally:
            await client.aclose()
    assert first.detail["screening"] == "skipped: redis unavailable"
    assert other.id is not None and first.id is not None and first.id > other.id
    await assert_clean(uow_factory)
