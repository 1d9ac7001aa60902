"""Operators' campaign edits in the domain: whole-definition validation, audit in the same
unit of work, and what may no longer change."""

from decimal import Decimal

from sqlalchemy import select

from app.domain.campaigns.admin import end_campaign, update_campaign
from app.domain.shared.errors import ErrorCode
from app.models import Campaign, OperatorAction
from tests.campaign_helpers import add_campaign
from tests.helpers import raises_code


async def actions(uow_factory) -> list[tuple[str, str]]:
    async with uow_factory() as uow:
        rows = await uow.session.execute(
            select(OperatorAction.action, OperatorAction.target_id).order_by(OperatorAction.id)
        )
        return [tuple(row) for row in rows]


async def test_an_update_keeps_what_it_does_not_name_and_is_logged(units, uow_factory):
    async with uow_factory() as uow:
        cid = await add_campaign(uow, code="EDIT", business_units=["MALL", "HOTEL"], weekdays=[3])
    async with uow_factory() as uow:
        row = await update_campaign(
            uow,
            campaign_id=cid,
            changes={"weekdays": [], "kind": "FIXED", "rate": None, "points": 30},
            actor="operator:a",
            reason="simpler",
        )
    assert (row.kind, row.points, row.rate, row.weekdays) == ("FIXED", 30, None, [])
    assert row.unit_ids == sorted([units["MALL"], units["HOTEL"]])
    assert await actions(uow_factory) == [
        ("campaign.create", str(cid)),
        ("campaign.update", str(cid)),
    ]


async def test_refused_updates_change_nothing_and_leave_no_trail(units, uow_factory):
    async with uow_factory() as uow:
        cid = await add_campaign(uow, code="KEEP", rate=Decimal("1.5"))
    for changes, field in (
        ({"kind": "FIXED"}, "points"),  # a FIXED campaign needs points (and no rate)
        ({"name": None}, "name"),
        ({"starts_at": None}, "startsAt"),
        ({"exclusive_group": "x" * 33}, "exclusiveGroup"),
        ({"merchants": ["M001"]}, "merchants"),  # merchants by id
        ({"rate": "abc"}, "rate"),
    ):
        with raises_code(ErrorCode.INVALID_INPUT, field=field):
            async with uow_factory() as uow:
                await update_campaign(uow, campaign_id=cid, changes=changes, actor="operator:a")
    with raises_code(ErrorCode.NOT_FOUND, field="merchants"):
        async with uow_factory() as uow:
            await update_campaign(uow, campaign_id=cid, changes={"merchants": ["999"]}, actor="a")
    async with uow_factory() as uow:
        row = await uow.session.get(Campaign, cid)
    assert (row.kind, row.rate, row.name) == ("MULTIPLIER", Decimal("1.5000"), "Test campaign")
    assert await actions(uow_factory) == [("campaign.create", str(cid))]


async def test_an_ended_campaign_cannot_change(units, uow_factory):
    async with uow_factory() as uow:
        cid = await add_campaign(uow, code="DONE")
        await end_campaign(uow, campaign_id=cid, actor="operator:a", reason="over")
    with raises_code(ErrorCode.INVALID_INPUT, field="id"):
        async with uow_factory() as uow:
            await update_campaign(uow, campaign_id=cid, changes={"name": "x"}, actor="operator:a")
    with raises_code(ErrorCode.NOT_FOUND, field="id"):
        async with uow_factory() as uow:
            await end_campaign(uow, campaign_id="nope", actor="operator:a")
