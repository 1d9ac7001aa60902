"""The figures' output types: what app.domain.figures computes, with units and members."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import strawberry
from strawberry import Info

from app.domain.figures.audience import Segment as SegmentName
from app.domain.figures.programme import ProgrammeFigures as Figures
from app.graphql.core.pagination import PageInfo
from app.graphql.members.types import Member
from app.graphql.organisation.types import BusinessUnit, load_unit

strawberry.enum(SegmentName, name="RfmSegment", description="RFM segments (docs/figures.md).")


async def _member(info: Info, member_id: int) -> Member:
    row = await info.context.loaders.member.load(member_id)
    return Member.from_row(row)


@strawberry.type(description="A period's figures for the group or one unit (docs/figures.md).")
class ProgramFigures:
    period: str
    unit_id: strawberry.Private[int | None]
    issued_points: int = strawberry.field(description="Issued less taken back by refunds.")
    redeemed_points: int = strawberry.field(description="Redeemed, net of cancellations.")
    expired_points: int
    redemption_rate: Decimal | None = strawberry.field(description="Redeemed over issued points.")
    breakage_rate: Decimal | None = strawberry.field(description="Expired over issued points.")
    liability_points: int = strawberry.field(description="Outstanding at the period's end.")
    liability_amount: Decimal = strawberry.field(
        description="Outstanding points at settlement's group clearing price for the period's "
        "last month, less the breakage settlement recognised on them ahead of expiry (CNY): "
        "the settlement statement's liability; a unit's nets its own advance as funder."
    )
    liability_cost: Decimal = strawberry.field(
        description="Outstanding points at what they cost their funders (CNY)."
    )
    sales: Decimal = strawberry.field(description="Purchases that earned points, less refunds.")
    points_cost: Decimal = strawberry.field(description="Cost of the points issued (CNY).")
    points_cost_share_of_sales: Decimal | None
    cost_share_alert: bool = strawberry.field(description="The share is outside the band.")
    active_members: int
    as_of: datetime | None = strawberry.field(
        description="The summary tables reach this instant (exclusive); null: never refreshed."
    )

    @strawberry.field(description="Null: the group.")
    async def business_unit(self, info: Info) -> BusinessUnit | None:
        return await load_unit(info, self.unit_id)

    @classmethod
    def of(cls, figures: Figures) -> ProgramFigures:
        return cls(
            period=figures.period.label,
            unit_id=figures.unit_id,
            issued_points=figures.issued_points,
            redeemed_points=figures.redeemed_points,
            expired_points=figures.expired_points,
            redemption_rate=figures.redemption_rate,
            breakage_rate=figures.breakage_rate,
            liability_points=figures.liability_points,
            liability_amount=figures.liability_amount,
            liability_cost=figures.liability_cost,
            sales=figures.sales,
            points_cost=figures.points_cost,
            points_cost_share_of_sales=figures.points_cost_share_of_sales,
            cost_share_alert=figures.cost_share_alert,
            active_members=figures.active_members,
            as_of=figures.as_of,
        )


@strawberry.type(description="Members active at both units in the period.")
class OverlapCell:
    unit_a_id: strawberry.Private[int]
    unit_b_id: strawberry.Private[int]
    members: int

    @strawberry.field
    async def unit_a(self, info: Info) -> BusinessUnit:
        unit = await load_unit(info, self.unit_a_id)
        assert unit is not None
        return unit

    @strawberry.field
    async def unit_b(self, info: Info) -> BusinessUnit:
        unit = await load_unit(info, self.unit_b_id)
        assert unit is not None
        return unit


@strawberry.type(description="One RFM segment: its members and their share of all scored.")
class Segment:
    segment: SegmentName
    members: int
    share: Decimal


@strawberry.type
class TopReferrer:
    member_id: strawberry.Private[int]
    referred: int = strawberry.field(description="Members of the cohort they referred.")
    converted: int = strawberry.field(description="Of those, with a first purchase.")

    @strawberry.field
    async def member(self, info: Info) -> Member:
        return await _member(info, self.member_id)


@strawberry.type(description="The period's referral cohort (docs/figures.md).")
class ReferralStats:
    period: str
    coefficient: Decimal = strawberry.field(description="Converted over referrers.")
    referrers: int
    referred: int
    converted: int
    top_referrers: list[TopReferrer]


@strawberry.type
class ExpiringDay:
    expires_on: date = strawberry.field(description="Local day (group time zone).")
    points: int


@strawberry.type(description="A member with points expiring within the window.")
class ExpiringMember:
    member_id: strawberry.Private[int]
    points: int
    first_expires_at: datetime
    days: list[ExpiringDay]

    @strawberry.field
    async def member(self, info: Info) -> Member:
        return await _member(info, self.member_id)


@strawberry.type
class ExpiringMemberEdge:
    cursor: str
    node: ExpiringMember


@strawberry.type
class ExpiringMemberConnection:
    edges: list[ExpiringMemberEdge]
    page_info: PageInfo
