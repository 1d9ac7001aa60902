"""Tier rules without a database: the tier a growth value qualifies for, upgrades, and what
happens at the end of a validity period (app.domain.tiers.standing states the rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from app.domain.ledger.expiry import add_months
from app.domain.tiers.standing import (
    Source,
    Standing,
    end_of_validity,
    next_tier,
    progress,
    qualified_tier,
    upgrade_for,
)
from app.models import Program
from tests.rules.builders import NOW, TZ, demo_ladder, ladders, untimed

growths = st.integers(0, 300_000).map(Decimal)
policies = st.sampled_from(["ONE_LEVEL", "TO_WINDOW"])
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2080, 1, 1), timezones=st.just(UTC)
)


@untimed
@given(ladders(), growths)
def test_qualified_tier_is_the_highest_whose_threshold_growth_reaches(tiers, growth):
    reached = qualified_tier(tiers, growth)
    assert growth >= reached.qualify_threshold
    assert all(growth < t.qualify_threshold for t in tiers if t.rank > reached.rank)
    above, needed = progress(tiers, reached, growth)
    assert above == next_tier(tiers, reached)
    if above is None:
        assert needed is None and reached is tiers[-1]
    else:
        assert needed == above.qualify_threshold - growth > 0


@untimed
@given(ladders(), growths, growths)
def test_more_growth_never_qualifies_for_less(tiers, a, b):
    assert qualified_tier(tiers, min(a, b)).rank <= qualified_tier(tiers, max(a, b)).rank


@untimed
@given(ladders(), st.data(), growths, instants, st.integers(1, 24), st.booleans())
def test_upgrade_for_moves_to_the_highest_qualifying_tier_above(
    tiers, data, growth, at, months, manual
):
    current = data.draw(st.sampled_from(tiers))
    standing = Standing(current, valid_until=None, since=NOW, manual=manual)
    change = upgrade_for(standing, growth, tiers, Program(tier_validity_months=months), at, TZ)
    target = qualified_tier(tiers, growth)
    if target.rank <= current.rank:
        assert change is None
        return
    assert change is not None
    assert change.standing == Standing(
        target, valid_until=add_months(at.astimezone(TZ), months), since=at, manual=False
    )
    assert (change.from_tier, change.source, change.at) == (current.code, Source.AUTO, at)


@untimed
@given(ladders(), st.data(), growths, policies, st.booleans(), instants, st.integers(1, 24))
def test_end_of_validity_as_stated(tiers, data, growth, policy, manual, end, months):
    current = data.draw(st.sampled_from(tiers))
    since = end - timedelta(days=400)
    standing = Standing(current, valid_until=end, since=since, manual=manual)
    program = Program(downgrade_policy=policy, tier_validity_months=months)
    change = end_of_validity(standing, growth, tiers, program, TZ)

    position = tiers.index(current)
    if position > 0 and growth >= current.retain_threshold:
        expected = current  # kept for another period
    elif manual or position == 0 or policy == "TO_WINDOW":
        expected = qualified_tier(tiers, growth)  # the tier the window supports
    else:
        expected = tiers[position - 1]  # one level down
    got = change.standing
    assert got.tier is expected
    assert got.valid_until == (
        add_months(end.astimezone(TZ), months) if expected.rank > tiers[0].rank else None
    )
    assert got.since == (since if expected is current else end)
    assert not got.manual  # the normal rules apply again
    assert (change.from_tier, change.source, change.at) == (current.code, Source.JOB, end)


@untimed
@given(ladders(), st.data(), growths, policies)
def test_end_of_validity_never_raises_a_tier_nor_drops_below_the_window(
    tiers, data, growth, policy
):
    current = data.draw(st.sampled_from(tiers[1:] or tiers))
    standing = Standing(current, valid_until=NOW, since=NOW, manual=False)
    target = end_of_validity(standing, growth, tiers, Program(downgrade_policy=policy), TZ)
    supported = qualified_tier(tiers, growth)
    assert target.standing.tier.rank <= max(current.rank, tiers[0].rank)
    assert target.standing.tier.rank >= min(current.rank, supported.rank)


@untimed
@given(ladders(), st.data(), growths, policies)
def test_repeated_ends_settle_on_a_tier_the_window_keeps(tiers, data, growth, policy):
    """Period after period with the same growth: the member comes to rest (lowest tier, or a
    tier kept) within as many periods as the ladder has tiers, never below what growth
    supports."""
    start = data.draw(st.sampled_from(tiers))
    standing = Standing(start, valid_until=NOW, since=NOW)
    program = Program(downgrade_policy=policy)
    for _ in range(len(tiers)):
        if standing.valid_until is None:
            break
        standing = end_of_validity(standing, growth, tiers, program, TZ).standing
    resting = standing.valid_until is None or growth >= standing.tier.retain_threshold
    assert resting
    # (an end of validity never upgrades: orders do)
    assert standing.tier.rank >= min(start.rank, qualified_tier(tiers, growth).rank)


# --- the demo ladder: Normal 0, Silver 5,000 / 3,000, Gold 20,000 / 12,000, Diamond 60,000 / 40,000


def _tier(code: str):
    return next(t for t in demo_ladder() if t.code == code)


def _end(code: str, growth: str, policy: str = "ONE_LEVEL", manual: bool = False):
    end = datetime(2027, 2, 28, 16, 0, tzinfo=UTC)  # midnight opening Mar 1 in Shanghai
    standing = Standing(_tier(code), valid_until=end, since=NOW, manual=manual)
    program = Program(downgrade_policy=policy)
    return end_of_validity(standing, Decimal(growth), demo_ladder(), program, TZ).standing


def test_demo_upgrades():
    tiers, program, normal = demo_ladder(), Program(), Standing(_tier("NORMAL"))
    assert upgrade_for(normal, Decimal("4999.99"), tiers, program, NOW, TZ) is None
    silver = upgrade_for(normal, Decimal("5000.00"), tiers, program, NOW, TZ)
    assert silver is not None and silver.standing.tier.code == "SILVER"
    assert silver.standing.valid_until == datetime(2027, 6, 15, 12, 0, tzinfo=TZ)
    # one large order may skip tiers
    diamond = upgrade_for(normal, Decimal("60000"), tiers, program, NOW, TZ)
    assert diamond is not None and diamond.standing.tier.code == "DIAMOND"
    # an order never lowers a tier, and a granted member may be upgraded
    gold = Standing(_tier("GOLD"), valid_until=NOW, since=NOW, manual=True)
    assert upgrade_for(gold, Decimal("6000"), tiers, program, NOW, TZ) is None
    assert upgrade_for(gold, Decimal("70000"), tiers, program, NOW, TZ) is not None


def test_demo_ends_of_validity():
    kept = _end("GOLD", "12000")
    assert kept.tier.code == "GOLD" and kept.since == NOW
    assert kept.valid_until == datetime(2028, 3, 1, tzinfo=TZ)
    assert _end("GOLD", "11999.99").tier.code == "SILVER"  # one level down
    assert _end("DIAMOND", "0").tier.code == "GOLD"  # one level, however little growth
    assert _end("GOLD", "2000", "TO_WINDOW").tier.code == "NORMAL"  # to what the window supports
    dropped = _end("SILVER", "2999")
    assert dropped.tier.code == "NORMAL" and dropped.valid_until is None  # the lowest never ends


def test_demo_end_of_a_manual_grant():
    # kept if the window meets the granted tier's retention
    assert _end("DIAMOND", "40000", manual=True).tier.code == "DIAMOND"
    # otherwise the tier the window supports, with no one-level soft landing
    assert _end("DIAMOND", "6000", manual=True).tier.code == "SILVER"
    assert _end("DIAMOND", "6000").tier.code == "GOLD"
