"""The circuit breaker on its own (time moved by hand), and FORMAT_SOURCES parsing."""

from __future__ import annotations

import pytest

from app.sources import BreakerState, CircuitBreaker, parse_format_sources
from app.sources.database import DatabaseSource
from app.sources.http import HttpSource
from app.sources.registry import build_sources


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_consecutive_failures_only():
    changes: list[BreakerState] = []
    breaker = CircuitBreaker(
        failure_threshold=3, reset_after=10, clock=Ticks(), on_change=changes.append
    )
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()  # not consecutive: the count starts again
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.allow() and breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    assert changes == [BreakerState.OPEN]


def test_half_open_lets_one_trial_through_and_closes_on_success():
    clock = Ticks()
    breaker = CircuitBreaker(failure_threshold=1, reset_after=10, clock=clock)
    breaker.record_failure()
    clock.now += 9.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()  # the trial
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow()  # a second caller while the trial is out
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow() and breaker.allow()


def test_a_failed_trial_opens_again_for_a_full_cool_down():
    clock = Ticks()
    breaker = CircuitBreaker(failure_threshold=2, reset_after=5, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.now += 5
    assert breaker.allow()
    breaker.record_failure()  # one failure is enough in half-open
    assert breaker.state is BreakerState.OPEN
    clock.now += 4
    assert not breaker.allow()
    clock.now += 1
    assert breaker.allow()


def test_default_configuration_is_database_backed_for_the_formats_with_data():
    config = parse_format_sources("")
    assert config == {
        code: {"kind": "database", "format": code}
        for code in ("HOTEL", "MALL", "PROPERTY", "CONVENIENCE")
    }


def test_configuration_names_http_units_and_others():
    raw = (
        '{"hotel": {"kind": "http", "url": "http://pms.local", "timeout": 1.5, "retries": 1,'
        ' "failure_threshold": 4, "reset_after": 20, "max_concurrency": 3},'
        ' "HOTEL2": {"format": "HOTEL"}, "PROPERTY": {"kind": "none"}}'
    )
    registry = build_sources(raw, sessions=None)  # nothing connects until a call
    hotel = registry.get("HOTEL")
    assert isinstance(hotel, HttpSource)
    assert (hotel.config.timeout, hotel.config.retries, hotel.config.max_concurrency) == (
        1.5,
        1,
        3,
    )
    assert hotel.breaker.failure_threshold == 4 and hotel.breaker.reset_after == 20
    second = registry.get("HOTEL2")
    assert isinstance(second, DatabaseSource) and second.format == "HOTEL"
    assert registry.get("PROPERTY") is None and registry.implementation("PROPERTY") == "none"
    assert registry.implementation("MALL") == "database"
    assert registry.get("TOURISM") is None


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1]",
        '{"HOTEL": "http"}',
        '{"HOTEL": {"kind": "ftp"}}',
        '{"HOTEL": {"kind": "http"}}',
        '{"HOTEL": {"kind": "http", "url": "http://x", "timeout": "soon"}}',
        '{"HOTEL": {"kind": "http", "url": "http://x", "colour": "red"}}',
        '{"HOTEL": {"kind": "http", "url": "http://x", "max_concurrency": 0}}',
        '{"TOURISM": {"kind": "database"}}',
    ],
)
def test_a_malformed_configuration_stops_the_start(raw):
    with pytest.raises(ValueError, match="FORMAT_SOURCES"):
        parse_format_sources(raw)
