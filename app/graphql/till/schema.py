"""Points at the till: previewEarn, earnPoints, spendPoints, reverseTransaction."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry import Info

from app.domain.access.acts import authorise
from app.domain.shared.errors import DomainError, PermissionDenied
from app.domain.shared.units import find_unit
from app.domain.till import earning, reversals, spending
from app.graphql.core.errors import UserError, domain_graphql_error, forbidden
from app.graphql.core.execution import committed_transaction, execute, fingerprint
from app.graphql.core.permissions import CanEarn, CanReverse, CanSpend, IsAuthenticated
from app.graphql.ledger.types import PointsBalance, PointsTransaction, load_balance
from app.graphql.members.types import Member, changed_member_field
from app.graphql.organisation.types import BusinessUnit
from app.graphql.till.types import EarnBreakdownLine

if TYPE_CHECKING:
    from app.models import BusinessUnit as BusinessUnitModel
    from app.models import PointsTransaction as TransactionModel

KEY_HELP = "Required by mutations: a retry with the same key returns the first result."


@strawberry.input
class EarnPointsInput:
    member_id: strawberry.ID
    business_unit_id: strawberry.ID = strawberry.field(description="Id or code, e.g. HOTEL.")
    order_ref: str
    amount: Decimal = strawberry.field(description='Order amount in CNY, e.g. "199.00".')
    merchant_id: strawberry.ID | None = None
    category: str | None = None
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="Required by earnPoints (a retry with the same key returns the first"
        " result; without one the payload is INVALID_INPUT); previewEarn, which shares this"
        " input and records nothing, ignores it.",
    )
    device_id: str | None = strawberry.field(
        default=None, description="The till or device (anti-abuse velocity limits per device)."
    )


@strawberry.input
class SpendPointsInput:
    member_id: strawberry.ID
    business_unit_id: strawberry.ID
    order_ref: str
    order_amount: Decimal
    points: int
    merchant_id: strawberry.ID | None = None
    idempotency_key: str = strawberry.field(description=KEY_HELP)


@strawberry.input
class ReverseTransactionInput:
    transaction_id: strawberry.ID
    reason: str
    amount: Decimal | None = strawberry.field(
        default=None, description="Earn only: CNY refunded (partial refund); omit for all."
    )
    idempotency_key: str = strawberry.field(description=KEY_HELP)


@strawberry.type
class EarnPreview:
    points: int
    breakdown: list[EarnBreakdownLine]
    business_unit: BusinessUnit


# Payload fields default to "nothing happened", so a refused request is just `X(errors=...)`.
@strawberry.type
class EarnPointsPayload:
    transaction: PointsTransaction | None = None
    points: int | None = None
    breakdown: list[EarnBreakdownLine] = strawberry.field(default_factory=list)
    balance: PointsBalance | None = None
    member: Member | None = changed_member_field()
    replayed: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SpendPointsPayload:
    transaction: PointsTransaction | None = None
    points_spent: int | None = None
    cny_deducted: Decimal | None = strawberry.field(
        default=None, description="What the points paid."
    )
    cash_due: Decimal | None = strawberry.field(
        default=None, description="What is left to pay in cash."
    )
    balance: PointsBalance | None = None
    member: Member | None = changed_member_field()
    replayed: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ReverseTransactionPayload:
    transaction: PointsTransaction | None = None
    balance: PointsBalance | None = None
    member: Member | None = changed_member_field()
    replayed: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


async def _authorise_till(uow, principal, member_id: str, unit_ref: str) -> BusinessUnitModel:
    """The unit, once the caller may act there for the member (app.domain.access.acts); the
    domain then uses it without another query."""
    unit = await find_unit(uow, unit_ref)
    assert unit.id is not None  # a stored row
    await authorise(uow, principal, member_id=member_id, unit_id=unit.id)
    return unit


async def _after(info: Info, result: dict[str, Any]) -> tuple[TransactionModel, PointsBalance]:
    """The committed transaction and the member's balance (execute told live subscribers)."""
    row = await committed_transaction(info.context, result["transaction_id"])
    return row, await load_balance(info, row.member_id)


def _lines(row: TransactionModel) -> list[EarnBreakdownLine]:
    return [EarnBreakdownLine.from_dict(line) for line in row.detail.get("breakdown", [])]


@strawberry.type
class PointsQuery:
    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Price an order in points without recording anything (POS screen).",
    )
    async def preview_earn(self, info: Info, input: EarnPointsInput) -> EarnPreview:
        ctx = info.context
        try:
            async with ctx.uow() as uow:
                unit = await _authorise_till(
                    uow, ctx.principal, input.member_id, input.business_unit_id
                )
                quote = await earning.quote_earn(
                    uow,
                    member_id=input.member_id,
                    business_unit=unit,
                    amount=input.amount,
                    merchant=input.merchant_id,
                    category=input.category,
                )
        except PermissionDenied as error:
            raise forbidden(str(error)) from None
        except DomainError as error:
            raise domain_graphql_error(error) from None
        return EarnPreview(
            points=quote.points,
            breakdown=[EarnBreakdownLine.from_dict(line.as_dict()) for line in quote.lines],
            business_unit=BusinessUnit.from_row(quote.unit),
        )


@strawberry.type
class PointsMutation:
    @strawberry.mutation(permission_classes=[CanEarn])
    async def earn_points(self, info: Info, input: EarnPointsInput) -> EarnPointsPayload:
        ctx = info.context

        async def effect(uow):
            unit = await _authorise_till(
                uow, ctx.principal, input.member_id, input.business_unit_id
            )
            tx = await earning.earn_points(
                uow,
                member_id=input.member_id,
                business_unit=unit,
                order_ref=input.order_ref,
                amount=input.amount,
                merchant=input.merchant_id,
                category=input.category,
                caller=ctx.principal.caller,
                caller_ref=input.idempotency_key,
                device_id=input.device_id,
                screen=screen,
            )
            return {"transaction_id": tx.id}

        screen = ctx.services.earn_screen()  # settled by the unit of work it screens
        result, errors = await execute(
            ctx,
            operation="earnPoints",
            effect=effect,
            idempotency_key=input.idempotency_key,
            payload=fingerprint(input),
            key_required=True,
        )
        if errors:
            return EarnPointsPayload(errors=errors)
        row, balance = await _after(info, result)
        return EarnPointsPayload(
            transaction=PointsTransaction.from_row(row),
            points=row.points,
            breakdown=_lines(row),
            balance=balance,
            replayed=result["replayed"],
            errors=[],
        )

    @strawberry.mutation(permission_classes=[CanSpend])
    async def spend_points(self, info: Info, input: SpendPointsInput) -> SpendPointsPayload:
        ctx = info.context

        async def effect(uow):
            unit = await _authorise_till(
                uow, ctx.principal, input.member_id, input.business_unit_id
            )
            tx = await spending.spend_points(
                uow,
                member_id=input.member_id,
                business_unit=unit,
                order_ref=input.order_ref,
                order_amount=input.order_amount,
                points=input.points,
                merchant=input.merchant_id,
                caller=ctx.principal.caller,
                caller_ref=input.idempotency_key,
            )
            return {"transaction_id": tx.id}

        result, errors = await execute(
            ctx,
            operation="spendPoints",
            effect=effect,
            idempotency_key=input.idempotency_key,
            payload=fingerprint(input),
            key_required=True,
        )
        if errors:
            return SpendPointsPayload(errors=errors)
        row, balance = await _after(info, result)
        return SpendPointsPayload(
            transaction=PointsTransaction.from_row(row),
            points_spent=-row.points,
            cny_deducted=row.cny_value,
            cash_due=row.order_amount - row.cny_value,
            balance=balance,
            replayed=result["replayed"],
            errors=[],
        )

    @strawberry.mutation(
        permission_classes=[CanReverse],
        description="Refund an earn (earn scope) or cancel a spend (spend scope).",
    )
    async def reverse_transaction(
        self, info: Info, input: ReverseTransactionInput
    ) -> ReverseTransactionPayload:
        ctx = info.context
        principal = ctx.principal

        async def effect(uow):
            original = await reversals.get_transaction(uow, input.transaction_id)
            await authorise(
                uow,
                principal,
                member_id=original.member_id,
                unit_id=original.business_unit_id,
                scope="earn" if original.kind == "EARN" else "spend",  # refund or cancel
            )
            tx = await reversals.reverse_transaction(
                uow,
                transaction_id=original.id,
                amount=input.amount,
                reason=input.reason,
                caller=principal.caller,
                caller_ref=input.idempotency_key,
            )
            return {"transaction_id": tx.id}

        result, errors = await execute(
            ctx,
            operation="reverseTransaction",
            effect=effect,
            idempotency_key=input.idempotency_key,
            payload=fingerprint(input),
            key_required=True,
        )
        if errors:
            return ReverseTransactionPayload(errors=errors)
        row, balance = await _after(info, result)
        return ReverseTransactionPayload(
            transaction=PointsTransaction.from_row(row),
            balance=balance,
            replayed=result["replayed"],
            errors=[],
        )
