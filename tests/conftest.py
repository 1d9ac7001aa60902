"""Test harness: a fresh database migrated from empty, cleaned between tests; Redis or fakeredis.

With DATABASE_URL / REDIS_URL set, tests run against those servers (in a separate database
named `<db>_bmgtest_<pid>`); unset, against the embedded PostgreSQL and fakeredis. With CI=true an
unreachable server fails the run instead of skipping it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from urllib.parse import urlsplit

import asyncpg
import pytest
from sqlalchemy import text

from app.demo.organisation import seed_organisation
from app.platform import migrate
from app.platform.db import embedded_server_url, make_engine, make_sessionmaker
from app.platform.uow import UnitOfWork, unit_of_work
from app.settings import Settings

TZ = Settings().tz
NOW = datetime(2026, 6, 15, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai, a Monday


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _require(url: str, default_port: int, what: str) -> None:
    parts = urlsplit(url)
    if parts.hostname and not parts.hostname.startswith("/"):
        if not _reachable(parts.hostname, parts.port or default_port):
            message = f"{what} at {parts.hostname}:{parts.port or default_port} is unreachable"
            if os.environ.get("CI", "").lower() == "true":
                pytest.exit(message, returncode=1)
            pytest.exit(message + " (unset the URL to use the embedded default)", returncode=1)


def _test_database_url() -> str:
    """A database of its own for this run (runs side by side never share one)."""
    suffix = f"bmgtest_{os.getpid()}"
    configured = os.environ.get("DATABASE_URL")
    if configured:
        _require(configured, 5432, "PostgreSQL")
        base, _, query = configured.partition("?")
        server, _, name = base.rpartition("/")
        return f"{server}/{name or 'postgres'}_{suffix}" + (f"?{query}" if query else "")
    return embedded_server_url(Settings.from_env(), suffix)


def _admin(url: str, *statements: str) -> None:
    base, _, query = url.partition("?")
    server, _, _name = base.rpartition("/")

    async def run() -> None:
        conn = await asyncpg.connect(f"{server}/postgres" + (f"?{query}" if query else ""))
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def _name(url: str) -> str:
    return url.partition("?")[0].rpartition("/")[2]


@pytest.fixture(scope="session")
def database_url():
    url = _test_database_url()
    drop = f'DROP DATABASE IF EXISTS "{_name(url)}" WITH (FORCE)'
    with ThreadPoolExecutor(1) as pool:  # alembic runs its own event loop
        pool.submit(_admin, url, drop, f'CREATE DATABASE "{_name(url)}"').result()
        pool.submit(migrate.upgrade, url).result()
    yield url
    with ThreadPoolExecutor(1) as pool:
        pool.submit(_admin, url, drop).result()


@pytest.fixture(scope="session")
async def engine(database_url):
    engine = make_engine(database_url, pool_size=20)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def sessions(engine):
    return make_sessionmaker(engine)


@pytest.fixture(scope="session")
async def table_names(engine) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        )
        return [r[0] for r in rows]


@pytest.fixture
async def clean_db(engine, table_names) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join(table_names)} RESTART IDENTITY CASCADE"))


@pytest.fixture
async def units(clean_db, sessions) -> dict[str, int]:
    async with unit_of_work(sessions, now=NOW, tz=TZ) as uow:
        return await seed_organisation(uow)


class Clock:
    """Time the tests move explicitly."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def advance(self, **delta) -> datetime:
        from datetime import timedelta

        self.now = self.now + timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def uow_factory(sessions, clock):
    """`async with uow() as u:` runs one committed transaction at the clock's time."""

    def factory(now: datetime | None = None):
        return unit_of_work(sessions, now=now or clock.now, tz=TZ)

    return factory


@pytest.fixture(scope="session")
async def redis_client() -> AsyncIterator:
    url = os.environ.get("REDIS_URL")
    if url:
        _require(url, 6379, "Redis")
        import redis.asyncio as redis

        client = redis.from_url(url, decode_responses=True)
        await client.ping()
    else:
        import fakeredis

        client = fakeredis.FakeAsyncRedis(decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def redis_prefix() -> str:
    return f"bmgtest:{uuid.uuid4().hex[:8]}:"


__all__ = ["NOW", "TZ", "Clock", "UnitOfWork"]
