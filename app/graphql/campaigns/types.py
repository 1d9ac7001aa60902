"""Campaign types and inputs: a campaign as operators read and write it, and a simulation."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry import Info

from app.domain.campaigns.admin import CampaignSpec
from app.domain.campaigns.rules import CampaignKind
from app.domain.campaigns.simulation import SimulationReport
from app.graphql.core.errors import UserError
from app.graphql.core.pagination import PageInfo
from app.graphql.organisation.types import BusinessUnit, load_unit

if TYPE_CHECKING:
    from app.models import Campaign as CampaignModel

strawberry.enum(CampaignKind, name="CampaignKind")

KIND_HELP = (
    "MULTIPLIER: floor(points x (rate - 1)) extra, rate 2 = double; THRESHOLD: floor(points x"
    " rate) extra for orders >= minAmount, rate 0.1 = +10 %; FIXED: `points` extra. `points x`"
    " means the order's base + tier points, never another campaign's bonus."
)


@strawberry.type(description="A bonus rule: what it gives, to which orders, within which limits.")
class Campaign:
    id: strawberry.ID
    code: str
    name: str
    kind: CampaignKind = strawberry.field(description=KIND_HELP)
    rate: Decimal | None
    points: int | None
    min_amount: Decimal | None = strawberry.field(description="Orders from this CNY amount.")
    starts_at: datetime
    ends_at: datetime | None = strawberry.field(description="Exclusive; null: open-ended.")
    ended_at: datetime | None = strawberry.field(description="When an operator ended it.")
    merchant_ids: list[strawberry.ID]
    categories: list[str]
    tier_codes: list[str]
    weekdays: list[int] = strawberry.field(description="ISO: 1 = Monday; group time zone.")
    birthday_month: bool = strawberry.field(
        description="Only in the member's birthday month (group time; Feb 29 = February)."
    )
    budget: int | None = strawberry.field(description="Points in all; null: no budget.")
    spent: int = strawberry.field(description="Points given, net of refunds (budgeted or not).")
    per_member_cap: int | None = strawberry.field(
        description="Points one member may receive over the campaign's life, net of refunds."
    )
    exclusive_group: str | None = strawberry.field(
        description="Campaigns sharing a group compete: only the best one for an order applies."
    )
    funded_by_group: bool = strawberry.field(
        description="True: the group's marketing budget pays; false: `funder` does."
    )
    active: bool = strawberry.field(description="Running now.")
    created_by: str
    created_at: datetime
    updated_at: datetime
    unit_ids: strawberry.Private[list[int]]
    funder_unit_id: strawberry.Private[int | None]

    @strawberry.field(description="Units where it applies; empty: every unit.")
    async def business_units(self, info: Info) -> list[BusinessUnit]:
        rows = await info.context.loaders.unit.load_many(self.unit_ids)
        return [BusinessUnit.from_row(row) for row in rows if row is not None]

    @strawberry.field(description="The unit that pays for the bonus; null: the group.")
    async def funder(self, info: Info) -> BusinessUnit | None:
        return await load_unit(info, self.funder_unit_id)

    @classmethod
    def from_row(cls, row: CampaignModel, now: datetime, spent: int) -> Campaign:
        """`spent`: what it has given (`spent_by_campaign`: the column only when budgeted)."""
        running = (
            row.ended_at is None
            and row.starts_at <= now
            and (row.ends_at is None or row.ends_at > now)
        )
        return cls(
            id=strawberry.ID(str(row.id)),
            code=row.code,
            name=row.name,
            kind=CampaignKind(row.kind),
            rate=row.rate,
            points=row.points,
            min_amount=row.min_amount,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            ended_at=row.ended_at,
            merchant_ids=[strawberry.ID(str(i)) for i in row.merchant_ids],
            categories=list(row.categories),
            tier_codes=list(row.tier_codes),
            weekdays=list(row.weekdays),
            birthday_month=row.birthday_month,
            budget=row.budget,
            spent=spent,
            per_member_cap=row.per_member_cap,
            exclusive_group=row.exclusive_group,
            funded_by_group=row.funder_unit_id is None,
            active=running,
            created_by=row.created_by,
            created_at=row.created_at,
            updated_at=row.updated_at,
            unit_ids=list(row.unit_ids),
            funder_unit_id=row.funder_unit_id,
        )


@strawberry.type
class CampaignEdge:
    cursor: str
    node: Campaign


@strawberry.type
class CampaignConnection:
    edges: list[CampaignEdge]
    page_info: PageInfo


@strawberry.input(description="A campaign definition. Empty lists match every order.")
class CampaignInput:
    code: str = strawberry.field(description="1-32 of A-Z, 0-9, '-', '_'; unique.")
    name: str
    kind: CampaignKind = strawberry.field(description=KIND_HELP)
    starts_at: datetime = strawberry.field(description="With an offset.")
    ends_at: datetime | None = None
    rate: Decimal | None = None
    points: int | None = None
    min_amount: Decimal | None = None
    business_unit_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Ids or codes."
    )
    merchant_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    categories: list[str] = strawberry.field(default_factory=list)
    tier_codes: list[str] = strawberry.field(default_factory=list)
    weekdays: list[int] = strawberry.field(default_factory=list)
    birthday_month: bool = False
    budget: int | None = None
    per_member_cap: int | None = None
    exclusive_group: str | None = None
    funder_business_unit_id: strawberry.ID | None = strawberry.field(
        default=None, description="Id or code of the unit that pays; null: the group."
    )


# GraphQL field -> CampaignSpec field, where the names differ
SPEC_NAMES = {
    "business_unit_ids": "business_units",
    "merchant_ids": "merchants",
    "tier_codes": "tiers",
    "funder_business_unit_id": "funder",
}
LISTS = {"business_units", "merchants", "categories", "tiers", "weekdays"}


def spec_fields(values: dict[str, Any]) -> dict[str, Any]:
    """Input values under CampaignSpec's names (ids as strings, a null list as empty)."""
    fields: dict[str, Any] = {}
    for key, value in values.items():
        name = SPEC_NAMES.get(key, key)
        if name in LISTS:
            value = [v if isinstance(v, int) else str(v) for v in (value or [])]
        elif name == "kind" and value is not None:
            value = CampaignKind(value).value
        elif name == "funder" and value is not None:
            value = str(value)
        fields[name] = value
    return fields


def spec_of_input(campaign: CampaignInput) -> CampaignSpec:
    return CampaignSpec(**spec_fields(vars(campaign)))


@strawberry.input(description="Fields to change; those left out stay as they are.")
class UpdateCampaignInput:
    id: strawberry.ID
    reason: str | None = None
    idempotency_key: str | None = None
    code: str | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    kind: CampaignKind | None = strawberry.UNSET
    starts_at: datetime | None = strawberry.UNSET
    ends_at: datetime | None = strawberry.UNSET
    rate: Decimal | None = strawberry.UNSET
    points: int | None = strawberry.UNSET
    min_amount: Decimal | None = strawberry.UNSET
    business_unit_ids: list[strawberry.ID] | None = strawberry.UNSET
    merchant_ids: list[strawberry.ID] | None = strawberry.UNSET
    categories: list[str] | None = strawberry.UNSET
    tier_codes: list[str] | None = strawberry.UNSET
    weekdays: list[int] | None = strawberry.UNSET
    birthday_month: bool | None = strawberry.UNSET
    budget: int | None = strawberry.UNSET
    per_member_cap: int | None = strawberry.UNSET
    exclusive_group: str | None = strawberry.UNSET
    funder_business_unit_id: strawberry.ID | None = strawberry.UNSET

    def changes(self) -> dict[str, Any]:
        skip = {"id", "reason", "idempotency_key"}
        given = {k: v for k, v in vars(self).items() if k not in skip and v is not strawberry.UNSET}
        return spec_fields(given)


@strawberry.input
class CreateCampaignInput:
    campaign: CampaignInput
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class EndCampaignInput:
    id: strawberry.ID
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.type
class CampaignPayload:
    campaign: Campaign | None = None
    replayed: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(description="A saved campaign (campaignId) or an unsaved one (campaign).")
class SimulateCampaignInput:
    since: datetime = strawberry.field(description="Start of the period, with an offset.")
    until: datetime = strawberry.field(description="End (exclusive); at most 400 days later.")
    campaign_id: strawberry.ID | None = None
    campaign: CampaignInput | None = None
    business_unit_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only this unit's orders (id or code)."
    )


@strawberry.type
class UnitPoints:
    points: int
    business_unit_id: strawberry.Private[int]

    @strawberry.field
    async def business_unit(self, info: Info) -> BusinessUnit | None:
        return await load_unit(info, self.business_unit_id)


@strawberry.type(description="What a campaign would have given on past orders; nothing recorded.")
class CampaignSimulation:
    points: int = strawberry.field(description="Bonus points it would have given.")
    orders_examined: int
    orders_matched: int = strawberry.field(description="Orders that met every filter.")
    members: int = strawberry.field(description="Members who would have received points.")
    cut_by_budget: int
    cut_by_member_cap: int
    budget_exhausted_at: datetime | None
    per_unit: list[UnitPoints]

    @classmethod
    def from_report(cls, report: SimulationReport) -> CampaignSimulation:
        return cls(
            points=report.points,
            orders_examined=report.orders_examined,
            orders_matched=report.orders_matched,
            members=len(report.members),
            cut_by_budget=report.cut_by_budget,
            cut_by_member_cap=report.cut_by_member_cap,
            budget_exhausted_at=report.budget_exhausted_at,
            per_unit=[
                UnitPoints(points=points, business_unit_id=unit_id)
                for unit_id, points in sorted(report.per_unit.items())
            ],
        )
