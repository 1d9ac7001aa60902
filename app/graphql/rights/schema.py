"""Rights: the catalogue (`rights`, readable by anyone, as the mini-program shows it before a
member signs in) and the operators' `createRight` and `updateRight` (audited); buying and
returning; the till's `voucher`, `writeOffVoucher` and `undoVoucherWriteOff` (unknown codes
counted per caller: app.domain.rights.guessing); operators' `grantRight`, `revokeRight` and
the tiers' recurring rights (`tierRights`, `setTierRight`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import strawberry
from strawberry import Info

from app.domain.access.acts import authorise
from app.domain.rights import catalogue, lifecycle, tier_grants, wallet, write_off
from app.domain.shared.errors import DomainError, ErrorCode, PermissionDenied
from app.domain.shared.units import find_unit
from app.graphql.core.errors import UserError, domain_graphql_error, forbidden, user_error
from app.graphql.core.execution import execute, execute_change, fingerprint
from app.graphql.core.pagination import PageInfo, decode_cursor, encode_cursor, page_size
from app.graphql.core.permissions import CanBuyRights, CanWriteOff, IsOps
from app.graphql.core.terms import spec_terms
from app.graphql.ledger.types import PointsBalance, load_balance
from app.graphql.members.types import Member, changed_member_field
from app.graphql.rights.types import GrantPeriod as GrantPeriodEnum
from app.graphql.rights.types import (
    MemberRight,
    Right,
    RightConnection,
    RightEdge,
    RightKind,
    RightLimitPeriod,
    TierRight,
)


@strawberry.input
class CreateRightInput:
    business_unit_id: strawberry.ID = strawberry.field(description="The provider: id or code.")
    name: str
    kind: RightKind  # type: ignore[valid-type]
    valid_days: int
    code: str | None = strawberry.field(default=None, description="Default: from the name.")
    points_price: int | None = strawberry.field(default=None, description="Null: not for sale.")
    stock: int | None = strawberry.field(default=None, description="Null: unlimited.")
    per_member_limit: int | None = None
    limit_period: RightLimitPeriod = catalogue.LimitPeriod.LIFETIME  # type: ignore[valid-type]
    face_value: Decimal | None = None
    provider_cost: Decimal | None = None
    eligible_tier_codes: list[str] | None = None
    redeemable_at_unit_ids: list[strawberry.ID] | None = None
    refundable: bool = False
    window_starts_at: datetime | None = None
    window_ends_at: datetime | None = None
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class UpdateRightInput:
    right_id: strawberry.ID
    name: str | None = None
    kind: RightKind | None = None  # type: ignore[valid-type]
    valid_days: int | None = None
    code: str | None = None
    points_price: int | None = None
    stock: int | None = None
    per_member_limit: int | None = None
    limit_period: RightLimitPeriod | None = None  # type: ignore[valid-type]
    face_value: Decimal | None = None
    provider_cost: Decimal | None = None
    eligible_tier_codes: list[str] | None = None
    redeemable_at_unit_ids: list[strawberry.ID] | None = None
    refundable: bool | None = None
    window_starts_at: datetime | None = None
    window_ends_at: datetime | None = None
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class BuyRightInput:
    right_id: strawberry.ID
    member_id: strawberry.ID | None = strawberry.field(
        default=None, description="A member token buys for themself; ops name the member."
    )
    idempotency_key: str = strawberry.field(
        description="A retry with the same key returns the first result."
    )


@strawberry.type
class BuyRightPayload:
    member_right: MemberRight | None = None
    points_spent: int | None = None
    balance: PointsBalance | None = None
    member: Member | None = changed_member_field()
    replayed: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class WriteOffVoucherInput:
    code: str = strawberry.field(description="As scanned or typed; spaces, dashes forgiven.")
    order_ref: str | None = strawberry.field(default=None, description="The till's order.")
    idempotency_key: str = strawberry.field(
        description="A retry with the same key returns the first result."
    )


@strawberry.type
class WriteOffVoucherPayload:
    member_right: MemberRight | None = None
    replayed: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class UndoVoucherWriteOffInput:
    code: str
    reason: str = strawberry.field(description="Why (1-200 characters); kept with the write-off.")
    idempotency_key: str


@strawberry.input
class GrantRightInput:
    member_id: strawberry.ID
    right_id: strawberry.ID
    reason: str
    idempotency_key: str


@strawberry.input
class RevokeRightInput:
    member_right_id: strawberry.ID
    reason: str
    idempotency_key: str | None = None


@strawberry.input
class RefundRightInput:
    member_right_id: strawberry.ID
    reason: str | None = None
    idempotency_key: str


@strawberry.type
class MemberRightPayload:
    member_right: MemberRight | None = None
    replayed: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RefundRightPayload:
    member_right: MemberRight | None = None
    points_returned: int | None = None
    balance: PointsBalance | None = None
    member: Member | None = changed_member_field()
    replayed: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class SetTierRightInput:
    tier_code: str
    right_id: strawberry.ID
    quantity: int = strawberry.field(description="Each period; 0: the tier no longer has it.")
    period: GrantPeriodEnum  # type: ignore[valid-type]
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.type
class SetTierRightPayload:
    tier_right: TierRight | None = None
    replayed: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RightPayload:
    right: Right | None = None
    replayed: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


def _terms(input: Any, *, given_only: bool) -> dict[str, Any]:
    return spec_terms(
        input,
        catalogue.RightSpec,
        given_only=given_only,
        unit=("business_unit_id", "business_unit"),
        tuples=("eligible_tier_codes", "redeemable_at_unit_ids"),
    )


async def _change(info: Info, operation: str, input: Any, change: Any) -> RightPayload:
    """Run an operator's change of the catalogue idempotently; the right as committed, or the
    errors."""
    right_id, replayed, errors = await execute_change(info.context, operation, input, change)
    if right_id is None:
        return RightPayload(errors=errors)
    async with info.context.uow() as uow:
        row = await catalogue.get_right(uow, right_id)
    return RightPayload(right=Right.from_row(row), replayed=replayed)


async def _throttled(ctx: Any) -> UserError | None:
    """THROTTLED when the caller has tried too many unknown voucher codes lately."""
    try:
        await ctx.services.voucher_guessing.check(ctx.principal.caller, ctx.now())
    except DomainError as error:
        return user_error(error)
    return None


async def _count_unknown(ctx: Any, code: str, errors: list[UserError]) -> None:
    """Count a code the lookup did not find against the caller."""
    if any(e.code == ErrorCode.NOT_FOUND and e.field == "code" for e in errors):
        await ctx.services.voucher_guessing.miss(ctx.principal.caller, code, ctx.now())


async def _voucher_change(
    ctx: Any,
    operation: str,
    input: Any,
    effect: Any,
    *,
    code: str | None = None,
    key_required: bool = True,
) -> MemberRightPayload:
    """Run one change of a wallet entry through the mutation pipeline; the entry as committed.
    With `code`: a till's lookup by code, throttled and counted (app.domain.rights.guessing)."""
    if code is not None and (refusal := await _throttled(ctx)) is not None:
        return MemberRightPayload(errors=[refusal])

    async def run(uow):
        held = await effect(uow)
        return {"member_right_id": held.id, "member_id": held.member_id}

    result, errors = await execute(
        ctx,
        operation=operation,
        effect=run,
        idempotency_key=input.idempotency_key,
        payload=fingerprint(input),
        key_required=key_required,
    )
    if code is not None:
        await _count_unknown(ctx, code, errors)
    if errors:
        return MemberRightPayload(errors=errors)
    async with ctx.uow() as uow:
        held, right = await wallet.get_member_right(uow, result["member_right_id"])
    return MemberRightPayload(
        member_right=MemberRight.from_rows(held, right, ctx.now()),
        replayed=result.get("replayed", False),
    )


@strawberry.type
class RightsQuery:
    @strawberry.field(description="The catalogue of rights on offer, by id; one provider's with"
                      " `businessUnitId` (id or code); `first` at most 100.")  # fmt: skip
    async def rights(
        self,
        info: Info,
        business_unit_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> RightConnection:
        try:
            limit = page_size(first)
            after_id = decode_cursor("right", after)
            async with info.context.uow() as uow:
                unit_id = None
                if business_unit_id is not None:
                    unit_id = (await find_unit(uow, business_unit_id)).id
                rows = await catalogue.list_rights(
                    uow, limit=limit + 1, after_id=after_id, unit_id=unit_id
                )
        except DomainError as error:
            raise domain_graphql_error(error) from None
        edges = [
            RightEdge(cursor=encode_cursor("right", row.id or 0), node=Right.from_row(row))
            for row in rows[:limit]
        ]
        return RightConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(rows) > limit, end_cursor=edges[-1].cursor if edges else None
            ),
        )

    @strawberry.field(
        permission_classes=[CanWriteOff],
        description="A till of a unit that may redeem it: the voucher before write-off"
        " (NOT_FOUND for an unknown or mistyped code, FORBIDDEN for another unit).",
    )
    async def voucher(self, info: Info, code: str) -> MemberRight | None:
        ctx = info.context
        try:
            await ctx.services.voucher_guessing.check(ctx.principal.caller, ctx.now())
            async with ctx.uow() as uow:
                held, right = await write_off.voucher_for_unit(uow, code, ctx.principal.unit_id)
        except PermissionDenied as error:
            raise forbidden(str(error)) from None
        except DomainError as error:
            await _count_unknown(ctx, code, [user_error(error)])
            raise domain_graphql_error(error) from None
        return MemberRight.from_rows(held, right, ctx.now())

    @strawberry.field(
        description="Each tier's recurring rights (of one tier with `tierCode`), by tier."
    )
    async def tier_rights(self, info: Info, tier_code: str | None = None) -> list[TierRight]:
        async with info.context.uow() as uow:
            rows = await tier_grants.tier_rights(
                uow, None if tier_code is None else tier_code.strip().upper()
            )
        return [TierRight.from_rows(term, right) for term, right in rows]


@strawberry.type
class RightsMutation:
    @strawberry.mutation(permission_classes=[IsOps], description="Ops: add a right; audited.")
    async def create_right(self, info: Info, input: CreateRightInput) -> RightPayload:
        spec = catalogue.RightSpec(**_terms(input, given_only=False))
        return await _change(info, "createRight", input, partial(catalogue.create_right, spec=spec))

    @strawberry.mutation(
        permission_classes=[IsOps],
        description="Ops: change a right's terms (only the fields given); audited. Vouchers"
        " already issued keep their validity.",
    )
    async def update_right(self, info: Info, input: UpdateRightInput) -> RightPayload:
        changes = _terms(input, given_only=True)
        update = partial(catalogue.update_right, right_id=input.right_id, changes=changes)
        return await _change(info, "updateRight", input, update)

    @strawberry.mutation(
        permission_classes=[CanBuyRights],
        description="Buy one right with points: NOT_ON_SALE, TIER_REQUIRED, LIMIT_REACHED,"
        " OUT_OF_STOCK or INSUFFICIENT_POINTS charge nothing.",
    )
    async def buy_right(self, info: Info, input: BuyRightInput) -> BuyRightPayload:
        ctx = info.context

        async def effect(uow):
            member_id = await authorise(uow, ctx.principal, member_id=input.member_id)
            held = await wallet.buy_right(
                uow,
                member_id=member_id,
                right_id=input.right_id,
                caller=ctx.principal.caller,
                caller_ref=input.idempotency_key,
            )
            return {"member_right_id": held.id, "member_id": member_id}

        result, errors = await execute(
            ctx,
            operation="buyRight",
            effect=effect,
            idempotency_key=input.idempotency_key,
            payload=fingerprint(input),
            key_required=True,
        )
        if errors:
            return BuyRightPayload(errors=errors)
        async with ctx.uow() as uow:
            held, right = await wallet.get_member_right(uow, result["member_right_id"])
        return BuyRightPayload(
            member_right=MemberRight.from_rows(held, right, ctx.now()),
            points_spent=held.points_spent,
            balance=await load_balance(info, result["member_id"]),
            replayed=result.get("replayed", False),
        )

    @strawberry.mutation(
        permission_classes=[CanWriteOff],
        description="Write a voucher off at the caller's unit, exactly once: VOUCHER_USED,"
        " VOUCHER_REVOKED, VOUCHER_EXPIRED, NOT_FOUND; FORBIDDEN for a unit that may not redeem"
        " it.",
    )
    async def write_off_voucher(
        self, info: Info, input: WriteOffVoucherInput
    ) -> WriteOffVoucherPayload:
        ctx = info.context
        done = await _voucher_change(
            ctx,
            "writeOffVoucher",
            input,
            partial(
                write_off.write_off_voucher,
                code=input.code,
                unit_id=ctx.principal.unit_id,
                caller=ctx.principal.caller,
                order_ref=input.order_ref,
            ),
            code=input.code,
        )
        return WriteOffVoucherPayload(
            member_right=done.member_right, replayed=done.replayed, errors=done.errors
        )

    @strawberry.mutation(
        permission_classes=[CanWriteOff],
        description="Undo a write-off made at the caller's unit within the undo window"
        " (default 24 h), with a reason: the voucher is active again. UNDO_WINDOW_PASSED after"
        " it; FORBIDDEN for another unit.",
    )
    async def undo_voucher_write_off(
        self, info: Info, input: UndoVoucherWriteOffInput
    ) -> MemberRightPayload:
        ctx = info.context
        return await _voucher_change(
            ctx,
            "undoVoucherWriteOff",
            input,
            partial(
                write_off.undo_write_off,
                code=input.code,
                unit_id=ctx.principal.unit_id,
                caller=ctx.principal.caller,
                reason=input.reason,
                window=timedelta(hours=ctx.settings.voucher_undo_hours),
            ),
            code=input.code,
        )

    @strawberry.mutation(
        permission_classes=[IsOps],
        description="Ops: put one instance of a right into a member's wallet (source"
        " OPERATOR), with a reason; audited. Takes no stock.",
    )
    async def grant_right(self, info: Info, input: GrantRightInput) -> MemberRightPayload:
        ctx = info.context
        grant = partial(
            lifecycle.grant_right,
            member_id=input.member_id,
            right_id=input.right_id,
            reason=input.reason,
            actor=ctx.principal.caller,
        )
        return await _voucher_change(ctx, "grantRight", input, grant)

    @strawberry.mutation(
        permission_classes=[IsOps],
        description="Ops: revoke an unused voucher, with a reason; audited. VOUCHER_USED for a"
        " used one. No points are returned (a bought right is returned with refundRight).",
    )
    async def revoke_right(self, info: Info, input: RevokeRightInput) -> MemberRightPayload:
        ctx = info.context
        revoke = partial(
            lifecycle.revoke_right,
            member_right_id=input.member_right_id,
            reason=input.reason,
            actor=ctx.principal.caller,
        )
        return await _voucher_change(ctx, "revokeRight", input, revoke, key_required=False)

    @strawberry.mutation(
        permission_classes=[CanBuyRights],
        description="Return an unused bought right that is refundable (a member their own; ops"
        " any): its points go back to the lots they came from and its stock comes back."
        " NOT_REFUNDABLE, VOUCHER_USED, VOUCHER_EXPIRED, VOUCHER_REVOKED, ALREADY_REVERSED.",
    )
    async def refund_right(self, info: Info, input: RefundRightInput) -> RefundRightPayload:
        ctx = info.context
        member_id = ctx.principal.member_id if ctx.principal.is_member else None
        refund = partial(
            lifecycle.refund_right,
            member_right_id=input.member_right_id,
            caller=ctx.principal.caller,
            reason=input.reason,
            caller_ref=input.idempotency_key,
            member_id=member_id,
        )
        done = await _voucher_change(ctx, "refundRight", input, refund)
        if done.member_right is None:
            return RefundRightPayload(errors=done.errors)
        async with ctx.uow() as uow:
            held, _ = await wallet.get_member_right(uow, int(done.member_right.id))
        return RefundRightPayload(
            member_right=done.member_right,
            points_returned=held.points_spent,
            balance=await load_balance(info, held.member_id),
            replayed=done.replayed,
        )

    @strawberry.mutation(
        permission_classes=[IsOps],
        description="Ops: give a tier `quantity` of a right each MONTH or YEAR (0 removes it);"
        " audited. Members are granted by `jobs grant-tier-rights` and on upgrade.",
    )
    async def set_tier_right(self, info: Info, input: SetTierRightInput) -> SetTierRightPayload:
        ctx = info.context

        async def effect(uow):
            await tier_grants.set_tier_right(
                uow,
                tier_code=input.tier_code,
                right_id=input.right_id,
                quantity=input.quantity,
                period=input.period.value,
                actor=ctx.principal.caller,
                reason=input.reason,
            )
            return {}

        result, errors = await execute(
            ctx,
            operation="setTierRight",
            effect=effect,
            idempotency_key=input.idempotency_key,
            payload=fingerprint(input),
        )
        if errors:
            return SetTierRightPayload(errors=errors)
        code = input.tier_code.strip().upper()
        async with ctx.uow() as uow:
            rows = await tier_grants.tier_rights(uow, code)
        found = [
            TierRight.from_rows(term, right)
            for term, right in rows
            if str(right.id) == str(input.right_id).strip()
        ]
        return SetTierRightPayload(
            tier_right=found[0] if found else None, replayed=result.get("replayed", False)
        )
