"""Per-format data sources: each unit's own data (stays, parking and receipts, bills, orders)
behind one interface, database-backed or from the unit's remote system over HTTP."""

from app.sources.base import (
    FormatActivityCursor,
    FormatActivityItem,
    FormatActivityKind,
    FormatSource,
    FormatUsage,
    SourceUnavailable,
)
from app.sources.breaker import BreakerState, CircuitBreaker
from app.sources.database import DatabaseSource
from app.sources.http import HttpSource, HttpSourceConfig
from app.sources.registry import SourceRegistry, build_sources, parse_format_sources

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "DatabaseSource",
    "FormatActivityCursor",
    "FormatActivityItem",
    "FormatActivityKind",
    "FormatSource",
    "FormatUsage",
    "HttpSource",
    "HttpSourceConfig",
    "SourceRegistry",
    "SourceUnavailable",
    "build_sources",
    "parse_format_sources",
]
