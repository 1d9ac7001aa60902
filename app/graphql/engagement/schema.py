"""Activities: recordActivity (check-in, share, review, survey), activityProgress, activityRules
and the operators' updateActivityRule."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry import Info

from app.domain.access.acts import authorise
from app.domain.access.principals import Principal
from app.domain.engagement import progress as progress_rules
from app.domain.engagement import rewards as activity_rewards
from app.domain.engagement import rule_book
from app.domain.engagement.rule_book import EDITABLE, ActivityKind
from app.domain.members.identity import get_member
from app.domain.shared.errors import DomainError, PermissionDenied
from app.graphql.core.errors import UserError, domain_graphql_error, forbidden
from app.graphql.core.execution import committed_transaction, execute
from app.graphql.core.permissions import Forbidding, IsOps
from app.graphql.ledger.types import PointsBalance, PointsTransaction, load_balance
from app.graphql.members.types import Member, changed_member_field
from app.graphql.till.types import EarnBreakdownLine

if TYPE_CHECKING:
    from app.models import ActivityRule as ActivityRuleModel


@strawberry.enum(description="What a member did that earns points.")
class MemberActivity(Enum):
    CHECK_IN = "CHECK_IN"
    SHARE = "SHARE"
    REVIEW = "REVIEW"
    SURVEY = "SURVEY"


strawberry.enum(ActivityKind, name="ActivityKind")


class CanRecordActivity(Forbidding):
    """A member (themself), ops, and partner tills with the earn scope."""

    def allows(self, principal: Principal) -> bool:
        return principal.is_member or principal.has_role("ops") or principal.has_scope("earn")


class CanReadActivity(Forbidding):
    """A member (themself), ops, and partners with the read or earn scope."""

    def allows(self, principal: Principal) -> bool:
        return (
            principal.is_member
            or principal.has_role("ops")
            or principal.has_scope("read")
            or principal.has_scope("earn")
        )


@strawberry.input
class RecordActivityInput:
    kind: MemberActivity
    member_id: strawberry.ID | None = strawberry.field(
        default=None, description="Omit with a member token (themself); required otherwise."
    )
    reference: str | None = strawberry.field(
        default=None, description="Your id for the thing done (a review, a survey): once each."
    )
    idempotency_key: str = strawberry.field(
        description="Required: a retry with the same key returns the first result."
    )


@strawberry.type
class RecordActivityPayload:
    transaction: PointsTransaction | None = None
    points: int | None = None
    breakdown: list[EarnBreakdownLine] = strawberry.field(default_factory=list)
    balance: PointsBalance | None = None
    member: Member | None = changed_member_field()
    streak: int | None = strawberry.field(
        default=None, description="CHECK_IN: consecutive local days, today included."
    )
    replayed: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ActivityRule:
    kind: ActivityKind
    points: int
    daily_cap: int | None = strawberry.field(description="Rewards per local day; null: no cap.")
    lifetime_cap: int | None = strawberry.field(
        description="Rewards in all (REFERRAL: per referrer); null: no cap."
    )
    streak_days: int | None
    streak_bonus: int | None
    active: bool
    updated_at: datetime

    @classmethod
    def from_row(cls, row: ActivityRuleModel) -> ActivityRule:
        return cls(
            kind=ActivityKind(row.kind),
            points=row.points,
            daily_cap=row.daily_cap,
            lifetime_cap=row.lifetime_cap,
            streak_days=row.streak_days,
            streak_bonus=row.streak_bonus,
            active=row.active,
            updated_at=row.updated_at,
        )


@strawberry.type
class ActivityAllowance:
    kind: ActivityKind
    points: int
    active: bool
    used_today: int
    daily_cap: int | None
    used_total: int
    lifetime_cap: int | None
    remaining_today: int | None = strawberry.field(description="Rewards left today; null: no cap.")


@strawberry.type
class ActivityProgress:
    member_id: strawberry.ID
    checked_in_today: bool
    streak: int = strawberry.field(description="Live check-in streak in local days.")
    check_ins_to_bonus: int | None = strawberry.field(
        description="Check-ins (today's included if not done yet) until the next streak bonus."
    )
    allowances: list[ActivityAllowance]


@strawberry.input
class UpdateActivityRuleInput:
    kind: ActivityKind
    reason: str = strawberry.field(description="Why (1-200 characters); kept in the audit trail.")
    points: int | None = strawberry.UNSET
    daily_cap: int | None = strawberry.field(
        default=strawberry.UNSET, description="Most rewarded per day; null: no cap; omit to keep."
    )
    lifetime_cap: int | None = strawberry.field(
        default=strawberry.UNSET, description="Most rewarded ever; null: no cap; omit to keep."
    )
    streak_days: int | None = strawberry.UNSET
    streak_bonus: int | None = strawberry.UNSET
    active: bool | None = strawberry.UNSET
    idempotency_key: str | None = None


@strawberry.type
class UpdateActivityRulePayload:
    rule: ActivityRule | None = None
    replayed: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


async def _member_for(uow, principal: Principal, member_id: strawberry.ID | None) -> int:
    """A member token means themself; others name a member they can see."""
    member = await authorise(uow, principal, member_id=member_id)
    assert member is not None
    return member


@strawberry.type
class ActivityQuery:
    @strawberry.field(description="Points and caps of every activity.")
    async def activity_rules(self, info: Info) -> list[ActivityRule]:
        async with info.context.uow() as uow:
            rows = await rule_book.list_rules(uow)
        return [ActivityRule.from_row(row) for row in rows]

    @strawberry.field(
        permission_classes=[CanReadActivity],
        description="Today's check-in, the streak and what each cap leaves (group time zone).",
    )
    async def activity_progress(
        self, info: Info, member_id: strawberry.ID | None = None
    ) -> ActivityProgress:
        ctx = info.context
        try:
            async with ctx.uow() as uow:
                member = await _member_for(uow, ctx.principal, member_id)
                await get_member(uow, member)
                progress = await progress_rules.activity_progress(uow, member_id=member)
        except PermissionDenied as error:
            raise forbidden(str(error)) from None
        except DomainError as error:
            raise domain_graphql_error(error) from None
        return ActivityProgress(
            member_id=strawberry.ID(str(progress.member_id)),
            checked_in_today=progress.checked_in_today,
            streak=progress.streak,
            check_ins_to_bonus=progress.check_ins_to_bonus,
            allowances=[
                ActivityAllowance(
                    kind=ActivityKind(a.kind),
                    points=a.points,
                    active=a.active,
                    used_today=a.used_today,
                    daily_cap=a.daily_cap,
                    used_total=a.used_total,
                    lifetime_cap=a.lifetime_cap,
                    remaining_today=a.remaining_today,
                )
                for a in progress.allowances
            ],
        )


@strawberry.type
class ActivityMutation:
    @strawberry.mutation(
        permission_classes=[CanRecordActivity],
        description="Reward a check-in, share, review or survey by its rule and caps.",
    )
    async def record_activity(
        self, info: Info, input: RecordActivityInput
    ) -> RecordActivityPayload:
        ctx = info.context
        principal = ctx.principal

        async def effect(uow):
            member = await _member_for(uow, principal, input.member_id)
            result = await activity_rewards.record_activity(
                uow,
                member_id=member,
                kind=input.kind.value,
                caller=principal.caller,
                reference=input.reference,
                issuer_unit_id=principal.unit_id if principal.is_partner else None,
                caller_ref=input.idempotency_key,
            )
            return {"transaction_id": result.transaction.id, "streak": result.streak}

        result, errors = await execute(
            ctx,
            operation="recordActivity",
            effect=effect,
            idempotency_key=input.idempotency_key,
            payload={
                "kind": input.kind.value,
                "member_id": str(input.member_id) if input.member_id is not None else None,
                "reference": input.reference,
            },
            key_required=True,
        )
        if errors:
            return RecordActivityPayload(errors=errors)
        row = await committed_transaction(ctx, result["transaction_id"])
        return RecordActivityPayload(
            transaction=PointsTransaction.from_row(row),
            points=row.points,
            breakdown=[EarnBreakdownLine(**line) for line in row.detail.get("breakdown", [])],
            balance=await load_balance(info, row.member_id),
            streak=result.get("streak"),
            replayed=result["replayed"],
        )

    @strawberry.mutation(
        permission_classes=[IsOps],
        description="Ops: change an activity's points, caps, streak or active flag (audited).",
    )
    async def update_activity_rule(
        self, info: Info, input: UpdateActivityRuleInput
    ) -> UpdateActivityRulePayload:
        ctx = info.context
        changes: dict[str, Any] = {
            name: getattr(input, name)
            for name in EDITABLE
            if getattr(input, name) is not strawberry.UNSET
        }

        async def effect(uow):
            rule = await rule_book.update_rule(
                uow,
                kind=input.kind.value,
                changes=changes,
                actor=ctx.principal.caller,
                reason=input.reason,
            )
            return {"kind": rule.kind}

        result, errors = await execute(
            ctx,
            operation="updateActivityRule",
            effect=effect,
            idempotency_key=input.idempotency_key,
            payload={"kind": input.kind.value, "reason": input.reason, **changes},
        )
        if errors:
            return UpdateActivityRulePayload(errors=errors)
        async with ctx.uow() as uow:
            row = await rule_book.get_rule(uow, result["kind"])
        return UpdateActivityRulePayload(
            rule=ActivityRule.from_row(row), replayed=result.get("replayed", False)
        )
