"""Shortcuts for the campaign tests: define a campaign, read it back, read an earn's lots."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from app.domain.campaigns.admin import CampaignSpec, create_campaign
from app.domain.campaigns.rules import spent_by_campaign
from app.models import Campaign, CampaignMemberUsage, PointsLot
from tests.conftest import NOW

_codes = itertools.count(1)


async def add_campaign(uow, **fields) -> int:
    """A campaign running from a day before NOW, double points unless told otherwise."""
    fields.setdefault("code", f"C{next(_codes)}")
    fields.setdefault("name", "Test campaign")
    fields.setdefault("kind", "MULTIPLIER")
    if fields["kind"] != "FIXED":
        fields.setdefault("rate", Decimal(2))
    fields.setdefault("starts_at", NOW - timedelta(days=1))
    campaign = await create_campaign(uow, spec=CampaignSpec(**fields), actor="operator:test")
    assert campaign.id is not None
    return campaign.id


async def campaign_row(uow_factory, campaign_id: int) -> Campaign:
    async with uow_factory() as uow:
        return await uow.session.get(Campaign, campaign_id)


async def usage(uow_factory, campaign_id: int, member_id: int) -> int:
    async with uow_factory() as uow:
        row = await uow.session.get(CampaignMemberUsage, (campaign_id, member_id))
        return row.points if row else 0


async def lots_of_tx(uow_factory, transaction_id: int) -> list[PointsLot]:
    async with uow_factory() as uow:
        return list(
            await uow.session.scalars(
                select(PointsLot)
                .where(PointsLot.transaction_id == transaction_id)
                .order_by(PointsLot.id)
            )
        )


def lines(tx) -> list[tuple[str, str, int]]:
    """(kind, rule, points) of each breakdown line of an earn."""
    return [(line["kind"], line["rule"], line["points"]) for line in tx.detail["breakdown"]]


async def spent_of(uow_factory, campaign_id: int) -> int:
    """What the campaign has given, as clients read `spent` (the column only when budgeted)."""
    async with uow_factory() as uow:
        campaign = await uow.session.get(Campaign, campaign_id)
        return (await spent_by_campaign(uow, [campaign]))[campaign_id]
