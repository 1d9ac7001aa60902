"""The services every entry point stands on: the gateway, the CLI, jobs and benchmarks build
them here, so a job sees the same database, Redis and announcer as a request does.

`open_services(settings)` owns what it builds (engine, Redis, sources) and closes it after; a
caller that shares an engine and Redis (tests) builds `Services(...)` itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.domain.abuse.screening import EarnScreen
from app.domain.access.partner_cache import KnownMembers, PartnerKeyCache
from app.domain.mall.flash_gate import FlashGate
from app.domain.members.wechat import WeChatLogin, WeChatUserLike
from app.domain.rights.guessing import CodeGuessing
from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.events import EventType
from app.platform.budget import QueryBudget
from app.platform.db import make_engine, make_sessionmaker, resolve_database_url
from app.platform.metrics import Metrics
from app.platform.outbox import DomainEvent, OutboxRelay
from app.platform.points_feed import PointsFeed
from app.platform.pubsub import PointsAnnouncer
from app.platform.uow import UnitOfWork, unit_of_work
from app.settings import Settings
from app.sources.jwks import JwksKeys
from app.sources.registry import SourceRegistry, build_sources
from app.sources.wechat import WeChatClient, WeChatConfig, WeChatRefused, WeChatUnavailable
from app.sources.wechat_dev import DevelopmentWeChat

log = logging.getLogger(__name__)


def announce_points_changes(announcer: PointsAnnouncer) -> Callable[[Sequence[DomainEvent]], None]:
    """The live-updates consumer of the outbox: each member whose points changed is announced
    to the `pointsChanged` subscribers of every worker."""

    def consume(events: Sequence[DomainEvent]) -> None:
        for event in events:
            if event.type == EventType.POINTS_CHANGED and event.member_id is not None:
                announcer.announce(event.member_id)

    return consume


def make_redis(settings: Settings) -> Any:
    """The real Redis at REDIS_URL, or an in-process stand-in when it is unset. A bounded
    pool (REDIS_MAX_CONNECTIONS; a caller waits at most REDIS_TIMEOUT_SECONDS for one) and
    every call bounded by REDIS_TIMEOUT_SECONDS: a hung Redis costs a request that long, not
    the 5 s socket default, and never holds a member's row lock longer."""
    if settings.redis_url:
        import redis.asyncio as redis

        pool = redis.BlockingConnectionPool.from_url(
            settings.redis_url,
            decode_responses=True,
            max_connections=settings.redis_max_connections,
            timeout=settings.redis_timeout_seconds,
            socket_timeout=settings.redis_timeout_seconds,
            socket_connect_timeout=settings.redis_timeout_seconds,
        )
        return redis.Redis.from_pool(pool)
    import fakeredis

    return fakeredis.FakeAsyncRedis(decode_responses=True)


def make_subscriptions_redis(settings: Settings, redis: Any) -> Any:
    """Redis for the worker's one pub/sub connection (app.platform.points_feed): a client of
    its own, so the subscriptions never take a connection budgets, velocity limits and
    dynamic codes need; no read timeout while waiting for messages, and no retries of its
    own (the feed reconnects and resubscribes itself). Named `<REDIS_PREFIX>live` in CLIENT
    LIST. Without REDIS_URL the in-process stand-in `redis` (pub/sub only within it)."""
    if settings.redis_url:
        import redis.asyncio as redis_asyncio
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        return redis_asyncio.from_url(
            settings.redis_url,
            decode_responses=True,
            socket_connect_timeout=settings.redis_timeout_seconds,
            retry=Retry(NoBackoff(), 0),
            client_name=f"{settings.redis_prefix}live",
        )
    return redis


@dataclass
class Services:
    """What the composition root hands every request, job and command."""

    settings: Settings
    sessions: async_sessionmaker
    redis: Any
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    metrics: Metrics = field(default_factory=Metrics)
    partner_keys: PartnerKeyCache = field(init=False)
    known_members: KnownMembers = field(init=False)  # member ids a token may name
    announcer: PointsAnnouncer = field(init=False)  # points-changed events (app.platform.pubsub)
    relay: OutboxRelay = field(init=False)  # committed domain events to their consumers
    budget: QueryBudget = field(init=False)  # per-caller query budgets (app.platform.budget)
    voucher_guessing: CodeGuessing = field(init=False)  # unknown voucher codes per caller
    # pub/sub for subscriptions (make_subscriptions_redis); None: `redis` itself (tests)
    subscriptions_redis: Any = None
    points_feed: PointsFeed = field(init=False)  # the one pub/sub connection (points_feed)
    # Each unit's format data source; None: built from settings.format_sources.
    sources: SourceRegistry = None  # type: ignore[assignment]
    # WeChat's mini-program login (None: not configured) and an external identity provider's
    # keys (None: none), both built from the settings (docs/sign-in.md).
    wechat: WeChatLogin | None = field(init=False)
    identity_keys: JwksKeys | None = field(init=False)
    flash_gate: FlashGate = field(init=False)  # the flash sales' Redis gate (docs/mall.md)

    def __post_init__(self) -> None:
        self.partner_keys = PartnerKeyCache(seconds=self.settings.partner_key_cache_seconds)
        self.known_members = KnownMembers()
        if self.subscriptions_redis is None:
            self.subscriptions_redis = self.redis
        self.announcer = PointsAnnouncer(self.redis, self.settings.redis_prefix)
        self.points_feed = PointsFeed(
            self.subscriptions_redis,
            self.settings.redis_prefix,
            confirm_seconds=max(1.0, 4 * self.settings.redis_timeout_seconds),
        )
        self.budget = QueryBudget(self.redis, prefix=self.settings.redis_prefix)
        self.voucher_guessing = CodeGuessing(
            self.redis,
            prefix=self.settings.redis_prefix,
            limit=self.settings.voucher_guess_limit,
            seconds=self.settings.voucher_guess_window_seconds,
        )
        self.relay = OutboxRelay(
            self.sessions.kw["bind"],
            [announce_points_changes(self.announcer)],
            clock=self.clock,
            mark_interval=self.settings.outbox_mark_seconds,
        )
        if self.sources is None:
            self.sources = build_sources(
                self.settings.format_sources,
                sessions=self.sessions,
                record=self.metrics.source_call,
                on_breaker=self.metrics.breaker_changed,
            )
        self.wechat = build_wechat(self.settings, self.redis, self.metrics)
        self.identity_keys = JwksKeys(self.settings.jwks_url) if self.settings.jwks_url else None
        self.flash_gate = FlashGate(self.redis, prefix=self.settings.redis_prefix)

    def uow(self, now: datetime | None = None) -> AbstractAsyncContextManager[UnitOfWork]:
        """A unit of work (one committed transaction) whose events this worker relays."""
        return unit_of_work(
            self.sessions, now=now or self.clock(), tz=self.settings.tz, relay=self.relay
        )

    def earn_screen(self) -> EarnScreen:
        """A new anti-abuse screen for one earn or registration: this worker's Redis, the
        settings' policy, counted in its metrics."""

        def observe(event: str, label: str) -> None:
            self.metrics.abuse.labels(event, label).inc()

        return EarnScreen(
            redis=self.redis,
            prefix=self.settings.redis_prefix,
            policy=self.settings.abuse,
            observe=observe,
        )

    async def sweep_outbox(self) -> int:
        """Relay events a worker left unrelayed (older than the grace period); drop relayed
        events past their retention. Returns how many were relayed."""
        now = self.clock()
        settings = self.settings
        relayed = await self.relay.sweep(
            now=now, grace=timedelta(seconds=settings.outbox_grace_seconds)
        )
        await self.relay.prune(before=now - timedelta(days=settings.outbox_retention_days))
        return relayed

    async def sweep_outbox_forever(self) -> None:
        """`sweep_outbox` every OUTBOX_SWEEP_SECONDS, for the life of a worker."""
        while True:
            await asyncio.sleep(self.settings.outbox_sweep_seconds)
            try:
                relayed = await self.sweep_outbox()
                if relayed:
                    log.info("outbox: relayed %d event(s) a worker had left", relayed)
            except Exception:  # the database is away: try again next time
                log.warning("outbox sweep failed", exc_info=True)

    async def drain(self) -> None:
        """Wait until what was committed so far has been relayed and announced."""
        await self.relay.drain()
        await self.announcer.drain()

    async def aclose(self) -> None:
        """Close what these services own: pending events and announcements first, then the
        sources, the engine and Redis."""
        await self.drain()
        await self.sources.aclose()
        if isinstance(self.wechat, WeChatPort):
            await self.wechat.client.aclose()
        if self.identity_keys is not None:
            await self.identity_keys.aclose()
        await self.sessions.kw["bind"].dispose()
        await self.points_feed.aclose()
        if self.subscriptions_redis is not self.redis:
            await self.subscriptions_redis.aclose()
        await self.redis.aclose()


class WeChatPort:
    """A WeChat client as the domain's login port: WeChat's refusals and outages become the
    domain's INVALID_CODE and UNAVAILABLE."""

    def __init__(self, client: WeChatClient | DevelopmentWeChat) -> None:
        self.client = client

    @property
    def appid(self) -> str:
        return self.client.appid

    async def user(self, code: str) -> WeChatUserLike:
        try:
            return await self.client.user(code)
        except (WeChatRefused, WeChatUnavailable) as error:
            raise _login_error(error) from None

    async def phone_number(self, phone_code: str) -> str:
        try:
            return await self.client.phone_number(phone_code)
        except (WeChatRefused, WeChatUnavailable) as error:
            raise _login_error(error) from None


def _login_error(error: Exception) -> DomainError:
    if isinstance(error, WeChatRefused):
        again = "call wx.login again" if error.field == "code" else "ask for the phone again"
        return DomainError(
            ErrorCode.INVALID_CODE,
            f"WeChat refused this code (used or forged); {again}",
            error.field,
        )
    log.warning("WeChat unavailable: %s", error)
    return DomainError(ErrorCode.UNAVAILABLE, "WeChat cannot be reached now; retry shortly", None)


def build_wechat(settings: Settings, redis: Any, metrics: Metrics) -> WeChatPort | None:
    """The configured mini-program's WeChat login; without WECHAT_APPID the development
    stand-in (any code signs in), except in production, where sign-in is then unavailable."""
    if settings.wechat_appid:
        config = WeChatConfig(
            appid=settings.wechat_appid,
            secret=settings.wechat_secret,
            api_base=settings.wechat_api_base,
            timeout=settings.wechat_timeout_seconds,
        )
        client = WeChatClient(
            config,
            redis=redis,
            prefix=settings.redis_prefix,
            record=metrics.source_call,
            on_breaker=metrics.breaker_changed,
        )
        return WeChatPort(client)
    if settings.env == "production":
        return None
    return WeChatPort(DevelopmentWeChat())


def build_services(settings: Settings, *, pool_size: int | None = None) -> Services:
    """Services over a new engine and Redis client (the caller closes them: `aclose`)."""
    engine = make_engine(
        resolve_database_url(settings),
        pool_size=pool_size or settings.db_pool_size,
        statement_timeout_ms=settings.db_statement_timeout_ms,
    )
    redis = make_redis(settings)
    return Services(
        settings=settings,
        sessions=make_sessionmaker(engine),
        redis=redis,
        subscriptions_redis=make_subscriptions_redis(settings, redis),
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
