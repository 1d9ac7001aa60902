"""The services every entry point stands on: the gateway, the CLI, jobs and benchmarks build
them here, so a job sees the same database, Redis and announcer as a request does.

`open_services(settings)` owns what it builds (engine, Redis, sources) and closes it after; a
caller that shares an engine and Redis (tests) builds `Services(...)` itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.platform.budget import QueryBudget
from app.platform.db import make_engine, make_sessionmaker, resolve_database_url
from app.platform.metrics import Metrics
from app.platform.partner_cache import PartnerKeyCache
from app.platform.pubsub import PointsAnnouncer
from app.settings import Settings
from app.sources.registry import SourceRegistry, build_sources


def make_redis(settings: Settings) -> Any:
    """The real Redis at REDIS_URL, or an in-process stand-in when it is unset."""
    if settings.redis_url:
        import redis.asyncio as redis

        return redis.from_url(settings.redis_url, decode_responses=True)
    import fakeredis

    return fakeredis.FakeAsyncRedis(decode_responses=True)


@dataclass
class Services:
    """What the composition root hands every request, job and command."""

    settings: Settings
    sessions: async_sessionmaker
    redis: Any
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    metrics: Metrics = field(default_factory=Metrics)
    partner_keys: PartnerKeyCache = field(init=False)
    announcer: PointsAnnouncer = field(init=False)  # points-changed events (app.platform.pubsub)
    budget: QueryBudget = field(init=False)  # per-caller query budgets (app.platform.budget)
    # Each unit's format data source; None: built from settings.format_sources.
    sources: SourceRegistry = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.partner_keys = PartnerKeyCache(seconds=self.settings.partner_key_cache_seconds)
        self.announcer = PointsAnnouncer(self.redis, self.settings.redis_prefix)
        self.budget = QueryBudget(self.redis, prefix=self.settings.redis_prefix)
        if self.sources is None:
            self.sources = build_sources(
                self.settings.format_sources,
                sessions=self.sessions,
                record=self.metrics.source_call,
                on_breaker=self.metrics.breaker_changed,
            )

    async def aclose(self) -> None:
        """Close what these services own: pending announcements first, then the sources,
        the engine and Redis."""
        await self.announcer.drain()
        await self.sources.aclose()
        await self.sessions.kw["bind"].dispose()
        await self.redis.aclose()


def build_services(settings: Settings, *, pool_size: int | None = None) -> Services:
    """Services over a new engine and Redis client (the caller closes them: `aclose`)."""
    engine = make_engine(
        resolve_database_url(settings),
        pool_size=pool_size or settings.db_pool_size,
        statement_timeout_ms=settings.db_statement_timeout_ms,
    )
    return Services(
        settings=settings, sessions=make_sessionmaker(engine), redis=make_redis(settings)
    )


@asynccontextmanager
async def open_services(
    settings: Settings, *, pool_size: int | None = None
) -> AsyncIterator[Services]:
    """`build_services` for the length of a block (a CLI command, a job run)."""
    services = build_services(settings, pool_size=pool_size)
    try:
        yield services
    finally:
        await services.aclose()
