"""The worker's copy of the configuration (app.domain.shared.configuration): read once, then checked
by one statement per unit of work, and never stale, whoever changes the tables and however."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text, update

from app.domain.shared.configuration import configuration
from app.domain.till.earning import quote_earn
from app.models import BusinessUnit, Campaign
from app.platform.driver import watch_statements
from tests.campaign_helpers import add_campaign
from tests.conftest import NOW
from tests.helpers import earn, new_member


async def _statements(uow_factory, **at) -> tuple[list[str], object]:
    """The statements one unit of work sends for its configuration, and what it got."""
    seen: list[str] = []
    async with uow_factory(**at) as uow:
        with watch_statements(seen.append):
            config = await configuration(uow)
            again = await configuration(uow)  # the same unit of work asks nothing more
    assert again is config
    return seen, config


async def _version(uow_factory) -> tuple[str, int]:
    async with uow_factory() as uow:
        row = await uow.session.execute(text("SELECT generation, version FROM config_version"))
        return tuple(row.one())


async def test_read_once_then_one_statement_per_unit_of_work(units, uow_factory):
    first, config = await _statements(uow_factory)
    assert len(first) == 4  # the version, then units, programme and tiers, campaigns
    second, kept = await _statements(uow_factory)
    assert second == [first[0]] and "config_version" in second[0]
    assert kept is config
    assert sorted(config.unit_codes) == sorted(units)
    assert [tier.code for tier in config.tiers] == ["NORMAL", "SILVER", "GOLD", "DIAMOND"]


async def test_a_rate_changed_by_any_writer_prices_the_next_order(units, uow_factory):
    async with uow_factory() as uow:
        assert (await quote_earn(uow, business_unit="HOTEL", amount="100.00")).points == 200
    # an operator's tool writing the table directly, not through the domain
    async with uow_factory() as uow:
        await uow.session.execute(
            update(BusinessUnit).where(BusinessUnit.code == "HOTEL").values(earn_points_per_cny=3)
        )
    async with uow_factory() as uow:
        assert (await quote_earn(uow, business_unit="HOTEL", amount="100.00")).points == 300


async def test_a_change_rolled_back_leaves_no_trace_in_the_copy(units, uow_factory):
    async with uow_factory() as uow:
        await configuration(uow)  # kept
    with pytest.raises(RuntimeError):
        async with uow_factory() as uow:
            await uow.session.execute(
                update(BusinessUnit).where(BusinessUnit.code == "MALL").values(pending_days=99)
            )
            mall = (await configuration(uow)).unit_codes["MALL"]
            assert mall.pending_days == 99  # the transaction sees its own change
            raise RuntimeError("rolled back")
    async with uow_factory() as uow:
        assert (await configuration(uow)).unit_codes["MALL"].pending_days == 7


async def test_version_moves_with_definitions_not_with_spent_budgets(units, uow_factory):
    async with uow_factory() as uow:
        cid = await add_campaign(uow, budget=1000)
    before = await _version(uow_factory)
    async with uow_factory() as uow:  # what an earn does under the campaign's lock
        await uow.session.execute(update(Campaign).where(Campaign.id == cid).values(spent=10))
    assert await _version(uow_factory) == before
    async with uow_factory() as uow:
        await uow.session.execute(
            update(Campaign).where(Campaign.id == cid).values(rate=Decimal(3))
        )
    after = await _version(uow_factory)
    assert after[0] == before[0] and after[1] > before[1]
    for table in ("program", "tiers", "business_units"):
        async with uow_factory() as uow:
            column = "rank" if table == "tiers" else "id"
            await uow.session.execute(text(f"UPDATE {table} SET {column} = {column}"))
        moved = await _version(uow_factory)
        assert moved[1] > after[1], table
        after = moved


async def test_a_campaign_created_applies_to_the_next_earn(units, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        assert (await earn(uow, member, "100.00")).points == 200  # configuration kept
    async with uow_factory() as uow:
        await add_campaign(uow, kind="FIXED", points=50)
    async with uow_factory() as uow:
        assert (await earn(uow, member, "100.00")).points == 250


async def test_an_earlier_instant_reads_again(units, uow_factory):
    """Campaigns past their end when the copy was read are not in it: a unit of work dated
    before that (a job run for a past day, a test's clock) reads the tables again."""
    async with uow_factory() as uow:
        await add_campaign(uow, kind="FIXED", points=50, ends_at=NOW + timedelta(hours=1))
    later, config = await _statements(uow_factory, now=NOW + timedelta(days=1))
    assert config.campaigns == [] and len(later) == 4
    earlier, config = await _statements(uow_factory, now=NOW)
    assert len(earlier) == 4 and [c.points for c in config.campaigns] == [50]
    assert [c.points for c in config.running_campaigns(NOW, units["HOTEL"])] == [50]


async def test_a_truncated_table_starts_a_new_generation(units, uow_factory, engine):
    before = await _version(uow_factory)
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE config_version"))
        await conn.execute(text("TRUNCATE tiers CASCADE"))
    after = await _version(uow_factory)
    assert after[0] != before[0]
    async with uow_factory() as uow:
        assert (await configuration(uow)).tiers == []


async def test_a_unit_of_work_sees_the_changes_it_makes(units, uow_factory):
    async with uow_factory() as uow:
        assert (await configuration(uow)).unit_codes["HOTEL"].earn_points_per_cny == 2
        await uow.session.execute(
            update(BusinessUnit).where(BusinessUnit.code == "HOTEL").values(earn_points_per_cny=4)
        )
        assert (await configuration(uow)).unit_codes["HOTEL"].earn_points_per_cny == 4
        cid = await add_campaign(uow, kind="FIXED", points=5)  # an ORM flush of a campaign
        assert [c.id for c in (await configuration(uow)).campaigns] == [cid]
        quiet = await configuration(uow)
        assert await configuration(uow) is quiet  # nothing written since: not read again
