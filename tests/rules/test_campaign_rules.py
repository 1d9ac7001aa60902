"""Campaign pricing without a database: what each kind gives, the caps that cut it, exclusive
groups (app.domain.campaigns.rules states the rules)."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from hypothesis import given
from hypothesis import strategies as st

from app.domain.campaigns.rules import (
    Limits,
    Offer,
    bonuses,
    price_offer,
    price_offers,
    raw_bonus,
)
from tests.rules.builders import TZ, campaign, untimed
from tests.rules.builders import order_facts as facts


def _floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_DOWN))


rates = st.integers(0, 50_000).map(lambda n: Decimal(n).scaleb(-4))  # 0 .. 5, four places


@st.composite
def campaigns(draw: st.DrawFn, campaign_id: int = 1):
    kind = draw(st.sampled_from(["FIXED", "MULTIPLIER", "THRESHOLD"]))
    budget = draw(st.none() | st.integers(0, 5_000))
    return campaign(
        f"C{campaign_id}",
        campaign_id,
        kind=kind,
        rate=None if kind == "FIXED" else draw(rates),
        points=draw(st.integers(0, 2_000)) if kind == "FIXED" else None,
        min_amount=Decimal("1.00") if kind == "THRESHOLD" else None,
        budget=budget,
        spent=draw(st.integers(0, budget)) if budget is not None else 0,
        per_member_cap=draw(st.none() | st.integers(1, 3_000)),
        exclusive_group=draw(st.sampled_from([None, "DOUBLE", "WEEKEND"])),
    )


@untimed
@given(campaigns(), st.integers(0, 10**6))
def test_raw_bonus_by_kind(offered, basis):
    line = raw_bonus(offered, basis)
    if offered.kind == "FIXED":
        assert line.points == offered.points
    elif offered.kind == "MULTIPLIER":
        assert line.points == _floor(basis * (offered.rate - 1))
    else:
        assert line.points == _floor(basis * offered.rate)
    assert line.kind == "CAMPAIGN"


@untimed
@given(campaigns(), st.integers(0, 10**5), st.integers(0, 5_000), st.none() | st.integers(0, 5_000))
def test_caps_let_through_what_is_left_and_say_so(offered, basis, used, budget_left):
    limits = Limits(member_used={1: used})
    if budget_left is not None:
        limits.budget_left = {1: budget_left}
    raw = raw_bonus(offered, basis).points
    award = price_offer(Offer(offered, "GROUP"), facts(basis), limits)
    if raw <= 0:
        assert award is None
        return
    assert award is not None
    expected = raw
    if offered.per_member_cap is not None:
        expected = min(expected, max(0, offered.per_member_cap - used))
    if offered.budget is not None:
        left = budget_left if budget_left is not None else offered.budget - offered.spent
        expected = min(expected, max(0, left))
    assert (award.raw, award.granted) == (raw, expected)
    # the campaign line, then one CAP line (negative) per limit that cut it, member cap first
    first, *caps = award.lines
    assert (first.kind, first.points) == ("CAMPAIGN", raw)
    assert all(c.kind == "CAP" and c.points < 0 for c in caps)
    assert raw + sum(c.points for c in caps) == expected
    assert [c.rule.rsplit(" ", 1)[1] for c in caps] in (
        [],
        ["member"],
        ["budget"],
        ["member", "budget"],
    )
    assert all(x.campaign_id == 1 and x.funder == "GROUP" for x in award.lines)


@untimed
@given(
    st.lists(st.integers(1, 10**6), unique=True, max_size=6).flatmap(
        lambda ids: st.tuples(*(campaigns(i) for i in ids))
    ),
    st.integers(0, 10**4),
)
def test_exclusive_groups_keep_their_best_award_and_others_stack(offered, basis):
    offers = [Offer(c, "GROUP") for c in offered]
    awards = price_offers(offers, facts(basis), Limits(), TZ)
    priced = [a for o in offers if (a := price_offer(o, facts(basis), Limits())) is not None]
    winners = {}
    for group in {a.campaign.exclusive_group for a in priced} - {None}:
        rivals = [a for a in priced if a.campaign.exclusive_group == group]
        winners[group] = max(rivals, key=lambda a: (a.granted, -a.campaign.id)).campaign.id
    expected = sorted(
        a.campaign.id
        for a in priced
        if a.campaign.exclusive_group is None
        or winners[a.campaign.exclusive_group] == a.campaign.id
    )
    assert [a.campaign.id for a in awards] == expected
    assert [b.points for b in bonuses(awards)] == [a.granted for a in awards if a.granted > 0]


def test_two_double_points_campaigns_without_a_group_give_three_times():
    doubles = [
        Offer(campaign(f"X{i}", i, kind="MULTIPLIER", rate=Decimal(2)), "GROUP") for i in (1, 2)
    ]
    awards = price_offers(doubles, facts(120), Limits(), TZ)
    assert 120 + sum(a.granted for a in awards) == 360


def test_exclusive_group_ties_go_to_the_lowest_id_and_caps_count():
    def double(cid: int, **changes) -> Offer:
        return Offer(
            campaign(
                f"D{cid}",
                cid,
                kind="MULTIPLIER",
                rate=Decimal(2),
                exclusive_group="DOUBLE",
                **changes,
            ),
            "GROUP",
        )

    tie = price_offers([double(9), double(4)], facts(100), Limits(), TZ)
    assert [a.campaign.id for a in tie] == [4]
    # the best after its limits: a cap of 30 loses to an uncapped rival
    capped = price_offers([double(1, per_member_cap=30), double(2)], facts(100), Limits(), TZ)
    assert [(a.campaign.id, a.granted) for a in capped] == [(2, 100)]


def test_examples_from_the_spec():
    threshold = campaign("BIG", kind="THRESHOLD", rate=Decimal("0.1"), min_amount=Decimal(500))
    assert raw_bonus(threshold, 999).points == 99  # +10 %, rounded down
    assert raw_bonus(campaign("F", points=88), 5).points == 88
    weak = campaign("W", kind="MULTIPLIER", rate=Decimal("1.004"))
    assert price_offer(Offer(weak, "GROUP"), facts(100), Limits()) is None  # 0.4 points: nothing
    # an exhausted budget gives nothing, and says why
    spent = campaign("B", budget=500, spent=500)
    award = price_offer(Offer(spent, "MALL"), facts(), Limits())
    assert award is not None and award.granted == 0
    assert [(x.kind, x.points) for x in award.lines] == [("CAMPAIGN", 10), ("CAP", -10)]
    assert bonuses([award]) == []
