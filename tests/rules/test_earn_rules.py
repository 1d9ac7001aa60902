"""The tier line of an earn without a database: floor(base x multiplier) on the rounded-down
base, shown as its own line."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from app.domain.till.breakdown import BreakdownLine
from app.domain.till.earning import EarnQuote, apply_tier
from tests.rules.builders import demo_ladder, tier, unit, untimed

multipliers = st.integers(1, 5_000).map(lambda n: Decimal(n).scaleb(-3))  # 0.001 .. 5.000


def _quote(base: int) -> EarnQuote:
    line = BreakdownLine(kind="BASE", rule="unit:MALL", points=base)
    return EarnQuote(unit("MALL"), None, Decimal("100.00"), None, base, [line])


@untimed
@given(st.integers(0, 10**8), multipliers)
def test_apply_tier_gives_the_floor_of_base_times_multiplier(base, multiplier):
    quote = _quote(base)
    priced = apply_tier(quote, tier("X", earn_multiplier=multiplier))
    # in integers: the multiplier is a whole number of thousandths
    assert priced.points == (base * int(multiplier * 1000)) // 1000
    if multiplier == 1:
        assert priced is quote  # no tier line at all
        return
    assert priced.lines[:1] == quote.lines
    (line,) = priced.lines[1:]
    assert line.kind == "TIER"
    assert line.points == priced.points - base
    assert line.rule == f"tier:X x{format(multiplier.normalize(), 'f')}"
    # the quote it came from is left as it was
    assert (quote.points, len(quote.lines)) == (base, 1)


@untimed
@given(st.integers(0, 10**6), st.integers(0, 10**6), multipliers)
def test_more_base_points_never_earn_fewer_with_the_tier(a, b, multiplier):
    silver = tier("X", earn_multiplier=multiplier)
    low, high = apply_tier(_quote(min(a, b)), silver), apply_tier(_quote(max(a, b)), silver)
    assert low.points <= high.points


def test_demo_multipliers():
    by_code = {t.code: t for t in demo_ladder()}
    assert apply_tier(_quote(99), by_code["NORMAL"]).points == 99
    silver = apply_tier(_quote(99), by_code["SILVER"])  # 118.8
    assert silver.points == 118
    assert [(x.kind, x.points) for x in silver.lines] == [("BASE", 99), ("TIER", 19)]
    assert silver.lines[1].rule == "tier:SILVER x1.2"
    assert apply_tier(_quote(1), by_code["GOLD"]).points == 1  # 1.5 rounds down
    assert apply_tier(_quote(333), by_code["DIAMOND"]).points == 666
    assert apply_tier(_quote(0), by_code["DIAMOND"]).points == 0
