"""A right as GraphQL shows it. Its provider cost is the provider's business: operators and the
provider's own keys see it, members and other units get null."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import strawberry
from strawberry import Info

from app.domain.access.acts import sees_provider_costs
from app.domain.rights import tier_grants, wallet
from app.domain.rights.catalogue import LimitPeriod
from app.domain.rights.catalogue import RightKind as RightKindValue
from app.graphql.core.pagination import PageInfo
from app.graphql.organisation.types import BusinessUnit, load_unit
from app.graphql.tiers.types import Tier

if TYPE_CHECKING:
    from app.models import MemberRight as MemberRightModel
    from app.models import Right as RightModel
    from app.models import TierRight as TierRightModel

RightKind = strawberry.enum(RightKindValue, name="RightKind")
RightLimitPeriod = strawberry.enum(LimitPeriod, name="RightLimitPeriod")


@strawberry.type(description="What a format offers members: granted by tier or bought.")
class Right:
    id: strawberry.ID
    code: str
    name: str
    kind: RightKind  # type: ignore[valid-type]
    face_value: Decimal | None = strawberry.field(description="What the member sees it is worth.")
    points_price: int | None = strawberry.field(description="Null: not for sale.")
    stock_remaining: int | None = strawberry.field(description="Null: unlimited.")
    per_member_limit: int | None = strawberry.field(description="Null: no limit.")
    limit_period: RightLimitPeriod = strawberry.field(  # type: ignore[valid-type]
        description="What the per-member limit counts over: a lifetime, a month, a year."
    )
    valid_days: int = strawberry.field(description="Valid this many days after issue.")
    window_starts_at: datetime | None = strawberry.field(
        description="A fixed window that also bounds validity, when set."
    )
    window_ends_at: datetime | None
    refundable: bool = strawberry.field(description="An unused one bought may be returned.")
    provider_unit_id: strawberry.Private[int]
    cost: strawberry.Private[Decimal | None]
    tier_codes: strawberry.Private[list[str]]
    other_unit_ids: strawberry.Private[list[int]]

    @classmethod
    def from_row(cls, row: RightModel) -> Right:
        return cls(
            id=strawberry.ID(str(row.id)),
            code=row.code,
            name=row.name,
            kind=RightKindValue(row.kind),
            face_value=row.face_value,
            points_price=row.points_price,
            stock_remaining=row.stock_remaining,
            per_member_limit=row.per_member_limit,
            limit_period=LimitPeriod(row.limit_period),
            valid_days=row.valid_days,
            window_starts_at=row.window_starts_at,
            window_ends_at=row.window_ends_at,
            refundable=row.refundable,
            provider_unit_id=row.provider_unit_id,
            cost=row.provider_cost,
            tier_codes=list(row.eligible_tiers),
            other_unit_ids=list(row.redeemable_unit_ids),
        )

    @strawberry.field(description="The unit that gives it and writes it off.")
    async def provider(self, info: Info) -> BusinessUnit:
        unit = await load_unit(info, self.provider_unit_id)
        assert unit is not None  # a foreign key
        return unit

    @strawberry.field(
        description="What the provider gives up per right (settlement reads it); operators and"
        " the provider's own keys see it, others get null."
    )
    def provider_cost(self, info: Info) -> Decimal | None:
        shown = sees_provider_costs(info.context.principal, self.provider_unit_id)
        return self.cost if shown else None

    @strawberry.field(description="The tiers that may have it; every tier when none is listed.")
    async def eligible_tiers(self, info: Info) -> list[Tier]:
        rows, _ = await info.context.loaders.tier_ladder.load(0)
        return [
            Tier.from_row(row) for row in rows if not self.tier_codes or row.code in self.tier_codes
        ]

    @strawberry.field(description="The provider and the other units that may write it off.")
    async def redeemable_at(self, info: Info) -> list[BusinessUnit]:
        ids = [self.provider_unit_id, *self.other_unit_ids]
        units = await asyncio.gather(*(load_unit(info, unit_id) for unit_id in ids))  # one batch
        return [unit for unit in units if unit is not None]


@strawberry.type
class RightEdge:
    cursor: str
    node: Right


@strawberry.type
class RightConnection:
    edges: list[RightEdge]
    page_info: PageInfo


RightStatus = strawberry.enum(wallet.RightStatus, name="RightStatus")
RightSource = strawberry.enum(wallet.RightSource, name="RightSource")


@strawberry.type(description="One right in a member's wallet, with its own voucher code.")
class MemberRight:
    id: strawberry.ID
    code: str = strawberry.field(description="13 characters; the last is a check character.")
    status: RightStatus  # type: ignore[valid-type]
    source: RightSource  # type: ignore[valid-type]
    valid_from: datetime
    valid_until: datetime
    used_at: datetime | None
    used_order_ref: str | None = strawberry.field(description="The till's order, if given.")
    ended_at: datetime | None = strawberry.field(description="When it was revoked or returned.")
    end_reason: str | None
    right: Right
    used_unit_id: strawberry.Private[int | None]

    @classmethod
    def from_rows(cls, held: MemberRightModel, right: RightModel, now: datetime) -> MemberRight:
        return cls(
            id=strawberry.ID(str(held.id)),
            code=held.code,
            status=wallet.RightStatus(wallet.shown_status(held, now)),
            source=wallet.RightSource(held.source),
            valid_from=held.valid_from,
            valid_until=held.valid_until,
            used_at=held.used_at,
            used_order_ref=held.used_order_ref,
            ended_at=held.ended_at,
            end_reason=held.end_reason,
            right=Right.from_row(right),
            used_unit_id=held.used_at_unit_id,
        )

    @strawberry.field(description="The unit that wrote it off.")
    async def used_at_unit(self, info: Info) -> BusinessUnit | None:
        return await load_unit(info, self.used_unit_id)


async def load_wallet(info: Info, member_id: int, status: str | None) -> list[MemberRight]:
    """A member's rights, newest first (one batch for every member of the request)."""
    now = info.context.now()
    shown = [
        MemberRight.from_rows(held, right, now)
        for held, right in await info.context.loaders.wallet.load(member_id)
    ]
    return [item for item in shown if status is None or item.status.value == status]


GrantPeriod = strawberry.enum(tier_grants.GrantPeriod, name="RightGrantPeriod")


@strawberry.type(description="A tier's recurring right: `quantity` of it each period.")
class TierRight:
    tier_code: str
    quantity: int
    period: GrantPeriod  # type: ignore[valid-type]
    right: Right

    @classmethod
    def from_rows(cls, term: TierRightModel, right: RightModel) -> TierRight:
        return cls(
            tier_code=term.tier_code,
            quantity=term.quantity,
            period=tier_grants.GrantPeriod(term.period),
            right=Right.from_row(right),
        )
