"""Refunds of an earn with several lots (its own points and campaign bonuses): proportional,
never more than was given, debt rules unchanged, the campaign's budget and caps given back."""

from app.domain.shared.errors import ErrorCode
from app.domain.tiers.growth import growth_value
from tests.campaign_helpers import add_campaign, lots_of_tx, spent_of, usage
from tests.helpers import (
    allocations_of,
    assert_clean,
    cancel,
    earn,
    ledger_snapshot,
    new_member,
    points_of,
    postings_of,
    raises_code,
    refund,
    run_expire_job,
    set_program,
    spend,
)


async def doubled_earn(uow_factory, amount="100", unit="HOTEL", **campaign):
    """A member and an earn doubled by a group-funded campaign; (member, tx, campaign id)."""
    async with uow_factory() as uow:
        cid = await add_campaign(uow, **campaign)
        member = await new_member(uow)
        tx = await earn(uow, member, amount, unit)
    return member, tx, cid


async def test_full_refund_takes_back_every_lot_and_gives_the_budget_back(units, uow_factory):
    member, tx, cid = await doubled_earn(uow_factory, budget=1000)
    assert tx.points == 400
    assert await spent_of(uow_factory, cid) == 200
    async with uow_factory() as uow:
        back = await refund(uow, tx.id)
        postings = await postings_of(uow, back.id)
    assert back.points == -400
    assert postings == {
        ("MEMBER_AVAILABLE", member): -400,
        ("ISSUED", units["HOTEL"]): 200,
        ("ISSUED", 0): 200,  # the group's marketing budget gets its bonus back
    }
    own, bonus = await lots_of_tx(uow_factory, tx.id)
    assert back.detail == {
        "taken": 400,
        "debt": 0,
        "expired": 0,
        "lots": {str(own.id): [200, 0, 0], str(bonus.id): [200, 0, 0]},
    }
    assert (own.remaining, bonus.remaining) == (0, 0)
    assert await spent_of(uow_factory, cid) == 0
    assert await usage(uow_factory, cid, member) == 0
    assert await points_of(uow_factory, member) == (0, 0, 0)
    with raises_code(ErrorCode.ALREADY_REVERSED):
        async with uow_factory() as uow:
            await refund(uow, tx.id)
    await assert_clean(uow_factory)


async def test_partial_refunds_are_cumulative_per_lot_and_exact_at_the_end(units, uow_factory):
    member, tx, cid = await doubled_earn(uow_factory, "33.33")  # 66 + 66
    taken = []
    for amount in ("10", "10", None):
        async with uow_factory() as uow:
            back = await refund(uow, tx.id, amount)
            taken.append(sorted(v[0] for v in back.detail["lots"].values()))
    # per lot: floor(66 x 10/33.33) = 19, floor(66 x 20/33.33) = 39, then all 66
    assert taken == [[19, 19], [20, 20], [27, 27]]
    assert await spent_of(uow_factory, cid) == 0
    assert await points_of(uow_factory, member) == (0, 0, 0)
    await assert_clean(uow_factory)


async def test_small_refunds_never_take_back_more_than_a_lot_gave(units, uow_factory):
    async with uow_factory() as uow:
        await add_campaign(uow, code="ODD", kind="FIXED", points=5)
        member = await new_member(uow)
        tx = await earn(uow, member, "3.33")  # 6 own points + 5 bonus
    own, bonus = await lots_of_tx(uow_factory, tx.id)
    for step in range(1, 34):  # 0.10 CNY at a time
        async with uow_factory() as uow:
            await refund(uow, tx.id, "0.10")
        own, bonus = await lots_of_tx(uow_factory, tx.id)
        assert 6 - own.remaining == 6 * step * 10 // 333
        assert 5 - bonus.remaining == 5 * step * 10 // 333
    async with uow_factory() as uow:
        await refund(uow, tx.id, "0.03")
    assert await points_of(uow_factory, member) == (0, 0, 0)
    await assert_clean(uow_factory)


async def test_refund_of_spent_bonus_becomes_debt_and_still_frees_the_budget(units, uow_factory):
    member, tx, cid = await doubled_earn(uow_factory, budget=500)
    async with uow_factory() as uow:
        await spend(uow, member, 300, "10000")  # the whole own lot and 100 of the bonus lot
    async with uow_factory() as uow:
        back = await refund(uow, tx.id)
    assert (back.points, back.debt_change) == (-400, 300)
    assert back.detail["taken"] == 100 and back.detail["debt"] == 300
    assert await points_of(uow_factory, member) == (-300, 0, 300)
    assert await spent_of(uow_factory, cid) == 0  # taken back: from lot or as debt
    await assert_clean(uow_factory)


async def test_blocked_refund_of_spent_bonus_changes_nothing(units, uow_factory):
    member, tx, cid = await doubled_earn(uow_factory, budget=500)
    async with uow_factory() as uow:
        await spend(uow, member, 300, "10000")
    await set_program(uow_factory, refund_shortfall="BLOCK")
    before = await ledger_snapshot(uow_factory)
    with raises_code(ErrorCode.INSUFFICIENT_POINTS):
        async with uow_factory() as uow:
            await refund(uow, tx.id)
    assert await ledger_snapshot(uow_factory) == before
    assert await spent_of(uow_factory, cid) == 200


async def test_a_refunded_bonus_returns_to_the_budget_for_other_members(units, uow_factory):
    first, tx, cid = await doubled_earn(uow_factory, budget=200)
    async with uow_factory() as uow:
        second = await new_member(uow)
        assert (await earn(uow, second, "100")).points == 200  # budget exhausted
    async with uow_factory() as uow:
        await refund(uow, tx.id, "50")  # half the order: 100 bonus points back
    assert await spent_of(uow_factory, cid) == 100
    assert await usage(uow_factory, cid, first) == 100
    async with uow_factory() as uow:
        assert (await earn(uow, second, "100")).points == 300
    assert await spent_of(uow_factory, cid) == 200
    await assert_clean(uow_factory)


async def test_pending_bonus_is_cancelled_inside_the_return_window(units, uow_factory, clock):
    member, tx, _ = await doubled_earn(uow_factory, "100", "MALL")  # 100 + 100 pending
    clock.advance(days=2)
    async with uow_factory() as uow:
        back = await refund(uow, tx.id, "40")
        postings = await postings_of(uow, back.id)
    assert postings == {
        ("MEMBER_PENDING", member): -80,
        ("ISSUED", units["MALL"]): 40,
        ("ISSUED", 0): 40,
    }
    assert await points_of(uow_factory, member) == (0, 120, 0)
    await assert_clean(uow_factory)


async def test_expired_bonus_is_not_taken_back_and_stays_used(units, uow_factory, clock):
    _, tx, cid = await doubled_earn(uow_factory, budget=1000)
    clock.advance(days=366)
    [expired] = await run_expire_job(uow_factory)
    assert expired.points == -400
    async with uow_factory() as uow:
        back = await refund(uow, tx.id)
    assert (back.points, back.detail["expired"]) == (0, 400)
    assert await spent_of(uow_factory, cid) == 200
    await assert_clean(uow_factory)


async def test_cancelling_a_spend_restores_bonus_lots_too(units, uow_factory):
    member, tx, _ = await doubled_earn(uow_factory)
    async with uow_factory() as uow:
        spent = await spend(uow, member, 300, "10000")
        assert len(await allocations_of(uow, spent.id)) == 2
    async with uow_factory() as uow:
        await cancel(uow, spent.id)
    own, bonus = await lots_of_tx(uow_factory, tx.id)
    assert (own.remaining, bonus.remaining) == (200, 200)
    assert await points_of(uow_factory, member) == (400, 0, 0)
    await assert_clean(uow_factory)


async def test_points_growth_subtracts_what_refunds_took_back_lot_by_lot(units, uow_factory):
    await set_program(uow_factory, tier_basis="POINTS")
    member, tx, _ = await doubled_earn(uow_factory, "33.33")  # 66 + 66
    # per lot floor(66 x 10/33.33) = 19, then 39 (the order as one: floor(132 x ...) = 39, 79)
    for amount, left in (("10", 132 - 38), ("10", 132 - 78), (None, 0)):
        async with uow_factory() as uow:
            await refund(uow, tx.id, amount)
            assert await growth_value(uow, member, basis="POINTS") == left
        assert await points_of(uow_factory, member) == (left, 0, 0)  # growth matches the ledger
    await assert_clean(uow_factory)
