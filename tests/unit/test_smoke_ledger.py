from tests.helpers import assert_clean, balance, earn, new_member, spend


async def test_earn_then_spend(units, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow)
        tx = await earn(uow, member, "150.50")
    assert tx.points == 301
    async with uow_factory() as uow:
        sp = await spend(uow, member, 200, "100")
        assert str(sp.cny_value) == "2.00"
        b = await balance(uow, member)
        assert b.available == 101
    await assert_clean(uow_factory)
