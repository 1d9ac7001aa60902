"""Per-request context: the caller, a database and Redis handle, the clock, DataLoaders.

Over a websocket one context serves the whole connection (every operation on it), so its
DataLoaders are renewed per operation (`FreshLoaders`) and per subscription event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from strawberry.extensions import SchemaExtension

from app.budget import QueryBudget
from app.domain.principals import Principal
from app.domain.uow import unit_of_work
from app.events import PointsAnnouncer
from app.graphql.loaders import Loaders
from app.metrics import Metrics
from app.partner_cache import PartnerKeyCache
from app.settings import Settings
from app.sources.registry import SourceRegistry, build_sources


@dataclass
class Services:
    """What the composition root hands every request."""

    settings: Settings
    sessions: async_sessionmaker
    redis: Any
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    metrics: Metrics = field(default_factory=Metrics)
    partner_keys: PartnerKeyCache = field(init=False)
    announcer: PointsAnnouncer = field(init=False)  # points-changed events (app.events)
    budget: QueryBudget = field(init=False)  # per-caller query budgets (app.budget)
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


@dataclass
class Context:
    services: Services
    principal: Principal | None
    request: Any = None
    response: Any = None
    loaders: Any = None
    request_id: str = ""
    connection_params: dict[str, Any] | None = None  # a websocket's connection_init payload
    websocket: bool = False
    # Transactions committed by this request's mutations, by id (see execution.remember_committed)
    committed_transactions: dict[int, Any] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def redis(self) -> Any:
        return self.services.redis

    def now(self) -> datetime:
        return self.services.clock()

    def refresh_loaders(self) -> None:
        """New, empty DataLoaders (nothing cached from earlier operations)."""
        self.loaders = Loaders(self)

    def uow(self):
        """A unit of work (one committed transaction) at the current time."""
        return unit_of_work(self.services.sessions, now=self.now(), tz=self.settings.tz)


class FreshLoaders(SchemaExtension):
    """Give each operation on a websocket its own DataLoaders (HTTP requests have them already)."""

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context.context
        if isinstance(ctx, Context) and ctx.websocket:
            ctx.refresh_loaders()
        yield
