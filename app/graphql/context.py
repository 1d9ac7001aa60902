"""Per-request context: the caller, a database and Redis handle, the clock, DataLoaders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.domain.principals import Principal
from app.domain.uow import unit_of_work
from app.settings import Settings


@dataclass
class Services:
    """What the composition root hands every request."""

    settings: Settings
    sessions: async_sessionmaker
    redis: Any
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass
class Context:
    services: Services
    principal: Principal | None
    request: Any = None
    response: Any = None
    loaders: Any = None

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def redis(self) -> Any:
        return self.services.redis

    def now(self) -> datetime:
        return self.services.clock()

    def uow(self):
        """A unit of work (one committed transaction) at the current time."""
        return unit_of_work(self.services.sessions, now=self.now(), tz=self.settings.tz)
