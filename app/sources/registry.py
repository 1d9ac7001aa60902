"""Which unit reads its format data from where: FORMAT_SOURCES, parsed into a registry.

FORMAT_SOURCES is a JSON object keyed by business-unit code, for example

    {"HOTEL": {"kind": "http", "url": "http://pms.local", "timeout": 2.0, "retries": 2,
               "backoff": 0.1, "failure_threshold": 5, "reset_after": 30,
               "max_concurrency": 10},
     "HOTEL2": {"kind": "database", "format": "HOTEL"},
     "PROPERTY": {"kind": "none"}}

Units not named keep the default: database-backed for the formats that have demo tables
(HOTEL, MALL, PROPERTY, CONVENIENCE), none for the others. `format` says what kind of data a
unit has (default: its code). A malformed value stops the gateway at start, not at a request.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.sources.base import FORMAT_KINDS, FormatSource
from app.sources.breaker import BreakerState
from app.sources.database import DatabaseSource
from app.sources.http import HttpSource, HttpSourceConfig

HTTP_OPTIONS = {
    "timeout": float,
    "retries": int,
    "backoff": float,
    "failure_threshold": int,
    "reset_after": float,
    "max_concurrency": int,
}


class SourceRegistry:
    """The data source of each unit that has one, by unit code."""

    def __init__(self, sources: Mapping[str, FormatSource] | None = None) -> None:
        self.sources: dict[str, FormatSource] = dict(sources or {})

    def get(self, unit: str) -> FormatSource | None:
        return self.sources.get(unit)

    def implementation(self, unit: str) -> str:
        """ "database", "http" or "none"."""
        source = self.sources.get(unit)
        return source.implementation if source is not None else "none"

    async def aclose(self) -> None:
        for source in self.sources.values():
            await source.aclose()


def parse_format_sources(raw: str | None) -> dict[str, dict[str, Any]]:
    """Each unit's configuration: the defaults overlaid with FORMAT_SOURCES."""
    config: dict[str, dict[str, Any]] = {
        code: {"kind": "database", "format": code} for code in FORMAT_KINDS
    }
    if not raw or not raw.strip():
        return config
    try:
        given = json.loads(raw)
    except ValueError as error:
        raise ValueError(f"FORMAT_SOURCES is not JSON: {error}") from None
    if not isinstance(given, dict):
        raise ValueError("FORMAT_SOURCES must be a JSON object keyed by unit code")
    for code, entry in given.items():
        if not isinstance(entry, dict):
            raise ValueError(f"FORMAT_SOURCES[{code!r}] must be an object")
        unit = str(code).strip().upper()
        kind = entry.get("kind", "database")
        fmt = str(entry.get("format", unit)).upper()
        if kind not in ("database", "http", "none"):
            raise ValueError(f"FORMAT_SOURCES[{code!r}].kind must be database, http or none")
        if kind == "database" and fmt not in FORMAT_KINDS:
            raise ValueError(f"FORMAT_SOURCES[{code!r}]: no demo tables for format {fmt!r}")
        if kind == "http":
            if not str(entry.get("url", "")).startswith(("http://", "https://")):
                raise ValueError(f"FORMAT_SOURCES[{code!r}].url must be an http(s) URL")
            unknown = set(entry) - {"kind", "url", "format", *HTTP_OPTIONS}
            if unknown:
                raise ValueError(f"FORMAT_SOURCES[{code!r}]: unknown options {sorted(unknown)}")
            try:
                options = {k: HTTP_OPTIONS[k](v) for k, v in entry.items() if k in HTTP_OPTIONS}
            except (TypeError, ValueError):
                raise ValueError(f"FORMAT_SOURCES[{code!r}]: bad option value") from None
            if options.get("max_concurrency", 1) < 1 or options.get("retries", 0) < 0:
                raise ValueError(f"FORMAT_SOURCES[{code!r}]: out-of-range option")
            config[unit] = {"kind": "http", "url": entry["url"], **options}
        else:
            config[unit] = {"kind": kind, "format": fmt}
    return config


def build_sources(
    raw: str | None,
    *,
    sessions: async_sessionmaker,
    record: Callable[[str, str], None] | None = None,
    on_breaker: Callable[[str, BreakerState], None] | None = None,
) -> SourceRegistry:
    """The registry the composition root puts on Services."""
    sources: dict[str, FormatSource] = {}
    for unit, entry in parse_format_sources(raw).items():
        if entry["kind"] == "database":
            sources[unit] = DatabaseSource(
                unit=unit, format=entry["format"], sessions=sessions, record=record
            )
        elif entry["kind"] == "http":
            options = {k: v for k, v in entry.items() if k in HTTP_OPTIONS}
            sources[unit] = HttpSource(
                unit=unit,
                config=HttpSourceConfig(url=entry["url"], **options),
                record=record,
                on_breaker=on_breaker,
            )
    return SourceRegistry(sources)
