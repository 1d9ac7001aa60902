"""Tiers: the `tiers` ladder and the operators' `grantTier`."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry import Info

from app.domain.rights.tier_grants import grant_member_tier_rights
from app.domain.tiers import standing as tier_rules
from app.graphql.core.errors import UserError
from app.graphql.core.execution import execute
from app.graphql.core.permissions import IsOps
from app.graphql.members.types import Member
from app.graphql.tiers.types import MemberTier, Tier, load_member_tier


@strawberry.type
class TierQuery:
    @strawberry.field(description="The tier ladder, lowest first: thresholds and benefits.")
    async def tiers(self, info: Info) -> list[Tier]:
        rows, _ = await info.context.loaders.tier_ladder.load(0)
        return [Tier.from_row(row) for row in rows]


@strawberry.input
class GrantTierInput:
    member_id: strawberry.ID
    tier_code: str = strawberry.field(description="e.g. GOLD")
    until: datetime = strawberry.field(
        description="End of the grant, in the future, with an offset; then the normal rules."
    )
    reason: str = strawberry.field(description="Why (1-200 characters); kept in the history.")
    idempotency_key: str | None = None


@strawberry.type
class GrantTierPayload:
    member: Member | None
    tier: MemberTier | None
    replayed: bool
    errors: list[UserError]


@strawberry.type
class TierMutation:
    @strawberry.mutation(
        permission_classes=[IsOps],
        description="Ops: give a member a tier until an end date, with a reason.",
    )
    async def grant_tier(self, info: Info, input: GrantTierInput) -> GrantTierPayload:
        ctx = info.context

        async def effect(uow):
            standing = await tier_rules.grant_tier(
                uow,
                member_id=input.member_id,
                tier=input.tier_code,
                until=input.until,
                reason=input.reason,
                actor=ctx.principal.caller,
            )
            member_id = int(str(input.member_id).strip())  # found, so it is a number
            # The granted tier's rights for this period, at once (as for an earned upgrade).
            await grant_member_tier_rights(uow, member_id, standing.tier.code)
            return {"member_id": member_id}

        payload = {
            "member_id": str(input.member_id),
            "tier_code": input.tier_code,
            "until": input.until.isoformat(),
            "reason": input.reason,
        }
        result, errors = await execute(
            ctx,
            operation="grantTier",
            effect=effect,
            idempotency_key=input.idempotency_key,
            payload=payload,
        )
        if errors:
            return GrantTierPayload(member=None, tier=None, replayed=False, errors=errors)
        row = await ctx.loaders.member.load(result["member_id"])
        return GrantTierPayload(
            member=Member.from_row(row),
            tier=await load_member_tier(info, result["member_id"]),
            replayed=result.get("replayed", False),
            errors=[],
        )
