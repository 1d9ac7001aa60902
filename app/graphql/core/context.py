"""Per-request context: the caller, a database and Redis handle, the clock, DataLoaders.

Over a websocket one context serves the whole connection (every operation on it), so its
DataLoaders are renewed per operation (`FreshLoaders`) and per subscription event.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from strawberry.extensions import SchemaExtension

from app.bootstrap import Services
from app.domain.access.principals import Principal
from app.graphql.core.loaders import Loaders
from app.settings import Settings


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
    refused: Any = None  # a websocket's bad upgrade credentials: closed at connection_init
    open_subscriptions: int = 0  # on this websocket (app.graphql.core.subscriptions)
    # Transactions committed by this request's mutations, by id (see execution.remember_committed)
    committed_transactions: dict[int, Any] = field(default_factory=dict)
    # A query's statement found its pooled connection already closed (nothing sent): the
    # operation is run once more on a fresh connection (app.graphql.schema.GatewaySchema)
    read_on_dead_connection: bool = False
    retrying: bool = False  # this is that second run: its cost is not charged again

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
        """A unit of work (one committed transaction) at the current time; its domain events
        go to the worker's outbox relay after the commit."""
        return self.services.uow()


class FreshLoaders(SchemaExtension):
    """Give each operation on a websocket its own DataLoaders (HTTP requests have them already)."""

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context.context
        if isinstance(ctx, Context) and ctx.websocket:
            ctx.refresh_loaders()
        yield
