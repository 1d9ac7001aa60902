"""The HTTP source against a real server on loopback: answers, timeouts, retries with backoff,
the circuit breaker and the concurrency cap, each counted on the server's side."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app.platform.metrics import Metrics
from app.sources import (
    BreakerState,
    FormatActivityKind,
    FormatUsage,
    HttpSource,
    HttpSourceConfig,
    SourceUnavailable,
)
from tests.conftest import TZ
from tests.fake_pms import FakePms, serving

T0 = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Sleeps:
    """Backoff sleeps, recorded (and not slept)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
async def pms():
    pms = FakePms()
    async with serving(pms) as url:
        pms.url = url
        yield pms


def source_for(pms: FakePms, **options) -> tuple[HttpSource, Ticks, Sleeps, Metrics]:
    ticks, sleeps, metrics = Ticks(), Sleeps(), Metrics()
    config = HttpSourceConfig(url=pms.url, **{"timeout": 5.0, "retries": 0, **options})
    source = HttpSource(
        unit="HOTEL",
        config=config,
        clock=ticks,
        sleep=sleeps,
        record=metrics.source_call,
        on_breaker=metrics.breaker_changed,
    )
    return source, ticks, sleeps, metrics


def calls(metrics: Metrics, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "bmg_source_calls_total", {"unit": "HOTEL", "outcome": outcome}
    )
    return value or 0.0


async def test_normal_answers_become_activity_items_and_usage(pms):
    for i in range(5):
        pms.add_stay(7, f"H-{i}", T0 + timedelta(days=i), f"{100 + i}.50")
    pms.add_stay(8, "H-x", T0, "88.00")
    pms.usage[7] = {
        "spend": "512.50",
        "visits": 5,
        "lastVisitAt": (T0 + timedelta(days=4)).isoformat(),
    }
    source, *_, metrics = source_for(pms)
    try:
        page = await source.activity([7, 8, 9], limit=3, before=None)
        assert [i.external_ref for i in page[7]] == ["H-4", "H-3", "H-2"]
        assert [i.external_ref for i in page[8]] == ["H-x"] and page[9] == []
        first = page[7][0]
        assert first.kind is FormatActivityKind.STAY and first.unit == "HOTEL"
        assert first.amount == Decimal("104.50") and first.detail["roomType"] == "DELUXE"
        more = await source.activity([7], limit=3, before=page[7][-1].cursor)
        assert [i.external_ref for i in more[7]] == ["H-1", "H-0"]
        assert pms.params[-1]["until"] == (T0 + timedelta(days=2)).isoformat()
        usage = await source.usage([7, 9], since=T0 - timedelta(days=365), tz=TZ)
        assert usage[7] == FormatUsage(Decimal("512.50"), 5, T0 + timedelta(days=4))
        assert usage[9] == FormatUsage()
        assert pms.paths == ["/activity", "/activity", "/usage"]
        assert calls(metrics, "ok") == 3
    finally:
        await source.aclose()


async def test_a_slow_answer_is_cut_by_the_timeout_and_retried(pms):
    pms.mode = "slow"
    source, _, sleeps, metrics = source_for(pms, timeout=0.2, retries=1, backoff=0.05)
    try:
        with pytest.raises(SourceUnavailable) as caught:
            await source.activity([1], limit=5, before=None)
    finally:
        await source.aclose()
    assert caught.value.unit == "HOTEL" and caught.value.reason == "timeout"
    assert pms.hits == 2 and sleeps.delays == [0.05]
    assert calls(metrics, "retry") == 1 and calls(metrics, "timeout") == 1


async def test_5xx_is_retried_with_exponential_backoff_then_given_up(pms):
    pms.mode = "fail"
    source, _, sleeps, metrics = source_for(pms, retries=3, backoff=0.1)
    try:
        with pytest.raises(SourceUnavailable, match="HTTP 503"):
            await source.usage([1], since=T0, tz=TZ)
    finally:
        await source.aclose()
    assert pms.hits == 4  # the first attempt and three retries
    assert sleeps.delays == pytest.approx([0.1, 0.2, 0.4])
    assert calls(metrics, "retry") == 3 and calls(metrics, "error") == 1


async def test_recovery_during_retries_answers(pms):
    pms.mode = "fail"
    source, _, sleeps, _ = source_for(pms, retries=2)

    async def recover(delay: float) -> None:
        sleeps.delays.append(delay)
        pms.mode = "ok"

    source.sleep = recover
    try:
        assert await source.activity([1], limit=5, before=None) == {1: []}
    finally:
        await source.aclose()
    assert pms.hits == 2 and source.breaker.failures == 0


@pytest.mark.parametrize("mode", ["reject", "garbage"])
async def test_4xx_and_answers_outside_the_contract_are_not_retried(pms, mode):
    pms.mode = mode
    source, _, sleeps, _ = source_for(pms, retries=3)
    try:
        with pytest.raises(SourceUnavailable):
            await source.activity([1], limit=5, before=None)
    finally:
        await source.aclose()
    assert pms.hits == 1 and sleeps.delays == []


async def test_an_unreachable_system_is_a_connection_error():
    source = HttpSource(
        unit="HOTEL",
        config=HttpSourceConfig(url="http://127.0.0.1:9", timeout=2, retries=1),
        sleep=Sleeps(),
    )
    try:
        with pytest.raises(SourceUnavailable, match="connection error"):
            await source.activity([1], limit=5, before=None)
    finally:
        await source.aclose()


async def test_the_breaker_opens_after_n_failures_and_closes_after_the_cool_down(pms):
    pms.mode = "fail"
    source, ticks, _, metrics = source_for(pms, failure_threshold=3, reset_after=30)
    try:
        for _ in range(3):
            with pytest.raises(SourceUnavailable, match="HTTP 503"):
                await source.activity([1], limit=5, before=None)
        assert source.breaker.state is BreakerState.OPEN and pms.hits == 3
        state = {"unit": "HOTEL"}
        assert metrics.registry.get_sample_value("bmg_source_breaker_state", state) == 2

        pms.mode = "ok"  # the PMS is back, but the breaker has not looked yet
        for _ in range(5):
            with pytest.raises(SourceUnavailable, match="circuit open"):
                await source.activity([1], limit=5, before=None)
        assert pms.hits == 3 and calls(metrics, "rejected") == 5

        ticks.now += 30  # cool-down over: one trial goes out, succeeds, closes the breaker
        assert await source.activity([1], limit=5, before=None) == {1: []}
        assert source.breaker.state is BreakerState.CLOSED and pms.hits == 4
        assert metrics.registry.get_sample_value("bmg_source_breaker_state", state) == 0
        await source.usage([1], since=T0, tz=TZ)
        assert pms.hits == 5
    finally:
        await source.aclose()


async def test_a_failed_trial_keeps_the_breaker_open(pms):
    pms.mode = "fail"
    source, ticks, _, _ = source_for(pms, failure_threshold=2, reset_after=10)
    try:
        for _ in range(2):
            with pytest.raises(SourceUnavailable):
                await source.activity([1], limit=5, before=None)
        ticks.now += 10
        with pytest.raises(SourceUnavailable, match="HTTP 503"):  # the trial reaches the PMS
            await source.activity([1], limit=5, before=None)
        assert pms.hits == 3 and source.breaker.state is BreakerState.OPEN
        with pytest.raises(SourceUnavailable, match="circuit open"):
            await source.activity([1], limit=5, before=None)
        assert pms.hits == 3
    finally:
        await source.aclose()


async def test_requests_in_flight_never_exceed_the_cap(pms):
    pms.hold = True
    source, *_ = source_for(pms, max_concurrency=3)
    try:
        calls_out = [
            asyncio.create_task(source.activity([i], limit=5, before=None)) for i in range(10)
        ]
        for _ in range(500):
            if pms.in_flight == 3:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # room for a fourth request, were the cap not honoured
        assert pms.in_flight == 3 and pms.hits == 3
        pms.release.set()
        results = await asyncio.gather(*calls_out)
    finally:
        await source.aclose()
    assert [r for page in results for r in page] == list(range(10))
    assert pms.hits == 10 and pms.max_in_flight == 3


def test_kind_detail_reads_what_a_remote_sent_leniently():
    from app.graphql.formats.details import BillDetail, StayDetail, kind_detail
    from app.sources import FormatActivityItem

    def item(kind: FormatActivityKind, detail: dict, ended_at=None) -> FormatActivityItem:
        return FormatActivityItem(
            7, "HOTEL", kind, "X-1", T0, Decimal("1.00"), "", ended_at, detail
        )

    assert kind_detail(item(FormatActivityKind.STAY, {"nights": "two", "roomType": "SUITE"})) == (
        StayDetail(nights=None, room_type="SUITE")
    )
    assert kind_detail(
        item(FormatActivityKind.BILL, {"period": "2026-05"}, ended_at=T0)
    ) == BillDetail(period="2026-05", bill_type=None, paid=True)
