"""Prometheus metrics of one gateway process, served at /metrics.

Each app has its own registry (tests build many apps in one process). With several uvicorn
workers each process keeps its own figures: scrape each worker (one per container) or sum
them in the query.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]{0,63}$")


class BoundedLabel:
    """Client-chosen label values (operation names), capped so a client cannot flood the
    registry: names past `limit` distinct ones count as "other"."""

    def __init__(self, limit: int = 200) -> None:
        self.limit = limit
        self.seen: set[str] = set()

    def __call__(self, value: str | None, default: str = "anonymous") -> str:
        if not value:
            return default
        if not _NAME.match(value):
            return "invalid"
        if value in self.seen:
            return value
        if len(self.seen) >= self.limit:
            return "other"
        self.seen.add(value)
        return value


class PoolCollector(Collector):
    """The SQLAlchemy connection pool, read at scrape time."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pool = self.engine.pool
        for name, text, read in (
            ("bmg_db_pool_checked_out", "Connections in use.", "checkedout"),
            ("bmg_db_pool_size", "Configured pool size (persistent connections).", "size"),
            ("bmg_db_pool_overflow", "Connections open beyond the pool size.", "overflow"),
            ("bmg_db_pool_checked_in", "Idle connections in the pool.", "checkedin"),
        ):
            method = getattr(pool, read, None)
            if method is not None:
                yield GaugeMetricFamily(name, text, value=method())


class Metrics:
    """The gateway's metrics in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.operation_name = BoundedLabel()
        self.requests = Counter(
            "bmg_graphql_requests",
            "GraphQL operations by operation name and type.",
            ["operation", "type"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "bmg_graphql_request_duration_seconds",
            "Time to answer a query or mutation (subscriptions are not timed).",
            ["operation", "type"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.user_errors = Counter(
            "bmg_graphql_user_errors",
            "Typed errors returned in mutation payloads, by code.",
            ["operation", "code"],
            registry=self.registry,
        )
        self.errors = Counter(
            "bmg_graphql_errors",
            "GraphQL errors by extensions.code (INTERNAL: masked unexpected errors).",
            ["operation", "code"],
            registry=self.registry,
        )
        self.subscriptions = Gauge(
            "bmg_graphql_subscriptions_active",
            "Subscriptions open on this worker.",
            ["operation"],
            registry=self.registry,
        )
        self.source_calls = Counter(
            "bmg_source_calls",
            "Per-format data source calls by unit and outcome (ok, retry, timeout, error,"
            " contract, rejected: refused by an open circuit breaker).",
            ["unit", "outcome"],
            registry=self.registry,
        )
        self.source_breaker = Gauge(
            "bmg_source_breaker_state",
            "Circuit breaker of a unit's remote source: 0 closed, 1 half-open, 2 open.",
            ["unit"],
            registry=self.registry,
        )
        self.throttled = Counter(
            "bmg_graphql_throttled",
            "Operations refused because the caller's query budget was spent, by caller kind.",
            ["caller"],
            registry=self.registry,
        )
        self.budget_unavailable = Counter(
            "bmg_graphql_budget_unavailable",
            "Operations let through unmetered because Redis could not be asked (fail open).",
            registry=self.registry,
        )
        self.abuse = Counter(
            "bmg_abuse_events",
            "Anti-abuse screening: refused (by limit), flag (raised, by kind), unscreened (Redis"
            " down, by policy).",
            ["event", "label"],
            registry=self.registry,
        )
        self.webhook_attempts = Counter(
            "bmg_webhook_attempts",
            "Webhook delivery attempts by outcome (delivered, retry, failed: no tries left or"
            " the endpoint gone, stale: the message was taken again meanwhile).",
            ["outcome"],
            registry=self.registry,
        )
        self.webhook_endpoints_disabled = Counter(
            "bmg_webhook_endpoints_disabled",
            "Webhook endpoints the dispatcher disabled, by why (gone: HTTP 410, failing: no"
            " success for WEBHOOKS_DISABLE_AFTER_DAYS).",
            ["why"],
            registry=self.registry,
        )
        ProcessCollector(registry=self.registry)
        self._pool: PoolCollector | None = None

    def watch_pool(self, engine: Any) -> None:
        """Report this engine's connection pool (once per registry)."""
        if self._pool is None and engine is not None:
            self._pool = PoolCollector(engine)
            self.registry.register(self._pool)

    def source_call(self, unit: str, outcome: str) -> None:
        """Count one call (or attempt) of a unit's data source."""
        self.source_calls.labels(unit, outcome).inc()

    def breaker_changed(self, unit: str, state: str) -> None:
        """Note a unit's circuit breaker moving to `state` (closed, half_open, open)."""
        self.source_breaker.labels(unit).set({"closed": 0, "half_open": 1, "open": 2}[state])

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
