"""Tier output types and their loading: the ladder, a member's tier with progress, history."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING

import strawberry
from strawberry import Info

from app.domain.tiers.standing import current_standing, progress, standing_of
from app.graphql.core.permissions import IsOps
from app.graphql.core.rows import TierHistoryRow, TierRow

if TYPE_CHECKING:
    from app.models import Tier as TierModel


@strawberry.enum(description="What growth value measures, per the programme.")
class TierBasis(Enum):
    SPEND = "SPEND"
    POINTS = "POINTS"
    VISITS = "VISITS"


@strawberry.enum
class TierChangeSource(Enum):
    AUTO = "AUTO"
    MANUAL = "MANUAL"
    JOB = "JOB"


@strawberry.type
class TierDiscount:
    business_unit_code: str
    rate: Decimal = strawberry.field(description='Share off at that unit\'s tills, e.g. "0.10".')


@strawberry.type
class Tier:
    code: str
    name: str
    rank: int = strawberry.field(description="0 = the lowest tier.")
    qualify_threshold: Decimal = strawberry.field(
        description="Growth value over 12 months that reaches this tier."
    )
    retain_threshold: Decimal = strawberry.field(
        description="Growth value that keeps this tier at the end of its validity."
    )
    earn_multiplier: Decimal
    spend_value_bonus: Decimal = strawberry.field(
        description='Extra value of points when spending, e.g. "0.05" = worth 5% more.'
    )
    discounts: list[TierDiscount]
    benefits: list[str]

    @classmethod
    def from_row(cls, row: TierRow | TierModel) -> Tier:
        return cls(
            code=row.code,
            name=row.name,
            rank=row.rank,
            qualify_threshold=row.qualify_threshold,
            retain_threshold=row.retain_threshold,
            earn_multiplier=row.earn_multiplier,
            spend_value_bonus=row.spend_value_bonus,
            discounts=[
                TierDiscount(business_unit_code=code, rate=Decimal(str(rate)))
                for code, rate in sorted(row.discounts.items())
            ],
            benefits=list(row.benefits),
        )


@strawberry.type
class MemberTier:
    tier: Tier
    valid_until: datetime | None = strawberry.field(
        description="End of this tier's validity or manual grant; null for the lowest tier. "
        "A past date: the nightly evaluate-tiers job has not reached the member yet."
    )
    since: datetime | None
    growth_value: Decimal = strawberry.field(
        description="Growth over the 12 months ending now (CNY weighted by unit, by default)."
    )
    growth_basis: TierBasis
    next_tier: Tier | None
    remaining_to_next: Decimal | None = strawberry.field(
        description="Growth value still needed for the next tier; null at the top."
    )
    manual: bool = strawberry.field(description="Granted by an operator until validUntil.")


@strawberry.type
class TierChange:
    from_tier: str | None = strawberry.field(description="Tier code before; null for the first.")
    to_tier: str
    reason: str
    source: TierChangeSource = strawberry.field(
        description="AUTO: an order crossed a threshold. MANUAL: an operator's grant. "
        "JOB: the end of a validity period."
    )
    valid_until: datetime | None
    at: datetime
    actor_name: strawberry.Private[str]

    @strawberry.field(permission_classes=[IsOps], description="Ops: who or what made it.")
    def actor(self) -> str:
        return self.actor_name

    @classmethod
    def from_row(cls, row: TierHistoryRow) -> TierChange:
        return cls(
            from_tier=row.from_tier,
            to_tier=row.to_tier,
            reason=row.reason,
            source=TierChangeSource(row.source),
            valid_until=row.valid_until,
            at=row.at,
            actor_name=row.actor,
        )


async def load_member_tier(info: Info, member_id: int) -> MemberTier:
    """The member's standing now, with progress; batched across members by the loaders. A
    stored standing whose validity has passed is read as the rules say it is now (the
    end-of-validity rules applied in memory, as `current_standing` does; the job or the
    member's next earn writes it), never shown past its end."""
    ctx = info.context
    loaders = ctx.loaders
    tiers, program = await loaders.tier_ladder.load(0)
    row = await loaders.member_tier.load(member_id)
    growth = await loaders.growth.load(member_id)
    standing = standing_of(row, tiers)
    if standing.valid_until is not None and standing.valid_until <= ctx.now():
        async with ctx.uow() as uow:  # reads only: nothing is written, nothing announced
            standing = await current_standing(uow, member_id)
    above, remaining = progress(tiers, standing.tier, growth)
    return MemberTier(
        tier=Tier.from_row(standing.tier),
        valid_until=standing.valid_until,
        since=standing.since,
        growth_value=growth,
        growth_basis=TierBasis(program.tier_basis),
        next_tier=Tier.from_row(above) if above else None,
        remaining_to_next=remaining,
        manual=standing.manual,
    )


async def load_tier_history(info: Info, member_id: int) -> list[TierChange]:
    rows = await info.context.loaders.tier_history.load(member_id)
    return [TierChange.from_row(row) for row in rows]
