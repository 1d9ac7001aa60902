"""Fixtures of the tests that run many transactions at once."""

from __future__ import annotations

import pytest

from app.platform.db import make_engine, make_sessionmaker
from app.platform.uow import unit_of_work
from tests.conftest import TZ


@pytest.fixture
async def wide(database_url, clock):
    """A unit-of-work factory over an engine with room for many connections at once (up to 40
    with overflow)."""
    engine = make_engine(database_url, pool_size=20)
    sessions = make_sessionmaker(engine)
    yield lambda now=None: unit_of_work(sessions, now=now or clock.now, tz=TZ)
    await engine.dispose()
