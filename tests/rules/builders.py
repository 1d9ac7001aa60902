"""In-memory values for the rule tests: models built without a session, strategies, helpers.

Nothing here opens a connection; the rule functions under test take plain values.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import settings
from hypothesis import strategies as st

from app.demo.organisation import TIERS, UNITS
from app.domain.campaigns.rules import OrderFacts
from app.domain.shared.errors import DomainError, ErrorCode
from app.models import BusinessUnit, Campaign, PointsLot, Tier
from app.platform.driver import entity

TZ = ZoneInfo("Asia/Shanghai")  # the group's time zone
NOW = datetime(2026, 6, 15, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai, a Monday

# Rules are checked, never timed: no per-example deadline (a loaded machine fails nothing).
untimed = settings(deadline=None)


def unit(code: str = "MALL", **changes: Any) -> BusinessUnit:
    """A demo business unit (SPEC values), with `changes` applied."""
    row = next(u for u in UNITS if u[0] == code)
    _, name, kind, rate, pending, value, cost, minimum, step, share, cap = row
    values: dict[str, Any] = {
        "id": UNITS.index(row) + 1,
        "code": code,
        "name": name,
        "kind": kind,
        "earn_points_per_cny": rate,
        "pending_days": pending,
        "point_value_cny": value,
        "cost_per_point": cost,
        "spend_min_points": minimum,
        "spend_step": step,
        "spend_max_share": share,
        "spend_daily_cap": cap,
    }
    return BusinessUnit(**(values | changes))


def demo_ladder() -> list[Tier]:
    """Normal / Silver / Gold / Diamond as the demo seeds them, lowest first."""
    return [
        Tier(
            code=code,
            name=name,
            rank=rank,
            qualify_threshold=qualify,
            retain_threshold=retain,
            earn_multiplier=multiplier,
            spend_value_bonus=bonus,
            discounts=discounts,
            benefits=benefits,
        )
        for code, name, rank, qualify, retain, multiplier, bonus, discounts, benefits in TIERS
    ]


def tier(code: str, rank: int = 1, **changes: Any) -> Tier:
    values: dict[str, Any] = {
        "code": code,
        "name": code.title(),
        "rank": rank,
        "qualify_threshold": Decimal(0),
        "retain_threshold": Decimal(0),
        "earn_multiplier": Decimal(1),
        "spend_value_bonus": Decimal(0),
        "discounts": {},
        "benefits": [],
    }
    return Tier(**(values | changes))


@st.composite
def ladders(draw: st.DrawFn) -> list[Tier]:
    """A ladder of 1-5 tiers, lowest first: ranks rising from 0 (not always by one), the lowest
    at threshold 0, qualification thresholds strictly rising with rank, each retention
    threshold at most its qualification threshold."""
    steps = draw(st.lists(st.tuples(st.integers(1, 3), st.integers(1, 50_000)), max_size=4))
    tiers = [tier("T0", 0)]
    rank = qualify = 0
    for position, (rank_step, step) in enumerate(steps, start=1):
        rank, qualify = rank + rank_step, qualify + step
        retain = draw(st.integers(0, qualify))
        tiers.append(
            tier(
                f"T{position}",
                rank,
                qualify_threshold=Decimal(qualify),
                retain_threshold=Decimal(retain),
            )
        )
    return tiers


def lot(
    lot_id: int, remaining: int, state: str = "AVAILABLE", points: int | None = None
) -> PointsLot:
    """A lot as the ledger loads one (a value in no session)."""
    return entity(
        PointsLot,
        {
            "id": lot_id,
            "member_id": 1,
            "transaction_id": lot_id,
            "issuer_unit_id": 1,
            "funder_unit_id": None,
            "cost_per_point": Decimal("0.02"),
            "points": remaining if points is None else points,
            "remaining": remaining,
            "state": state,
            "earned_at": NOW,
            "expires_at": NOW,
            "pending_until": None,
            "origin_lot_id": None,
            "campaign_id": None,
        },
    )


def campaign(code: str = "C", campaign_id: int | None = 1, **changes: Any) -> Campaign:
    values: dict[str, Any] = {
        "id": campaign_id,
        "code": code,
        "name": code,
        "kind": "FIXED",
        "points": 10,
        "starts_at": datetime(2026, 1, 1, tzinfo=TZ),
        "ends_at": None,
        "created_by": "operator",
        "created_at": NOW,
        "updated_at": NOW,
    }
    return Campaign(**(values | changes))


def order_facts(basis: int = 100, **changes: Any) -> OrderFacts:
    """An order of 100 CNY at unit 1 by a Normal member, priced at `basis` points."""
    values: dict[str, Any] = {
        "at": NOW,
        "unit_id": 1,
        "merchant_id": None,
        "category": None,
        "amount": Decimal("100.00"),
        "tier_code": "NORMAL",
        "birthday": None,
        "basis": basis,
    }
    return OrderFacts(**(values | changes))


@contextmanager
def refused(
    code: ErrorCode, field: str | None = None
) -> Iterator[pytest.ExceptionInfo[DomainError]]:
    """Expect a DomainError with this code (and input field, when given)."""
    with pytest.raises(DomainError) as caught:
        yield caught
    assert caught.value.code == code, caught.value.message
    if field is not None:
        assert caught.value.field == field
