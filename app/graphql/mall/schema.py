"""The points mall: the catalogue (`mallItems`, `mallItem`, readable by anyone, as the
mini-program shows it before a member signs in), the operators' `createMallItem` and
`updateMallItem` (audited); orders: `placeMallOrder` and `cancelMallOrder` (a member for
themself, ops for anyone), `confirmMallPayment` (the payment service's key, scope `payments`),
`shipMallOrder` (the supplier's key or ops), `confirmMallReceipt` (the member or ops); the
lottery: `lotteries`, `drawLottery`, and the operators' `createLottery`, `updateLottery`,
`publishLotteryOdds` (audited)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import strawberry
from strawberry import Info

from app.domain.access.acts import authorise
from app.domain.access.principals import Principal
from app.domain.mall import catalogue, completion, lottery, orders
from app.domain.mall.flash_gate import Attempt, Verdict, refusal_of
from app.domain.shared.errors import DomainError, ErrorCode
from app.graphql.core.errors import UserError, domain_graphql_error, user_error
from app.graphql.core.execution import execute, execute_change, fingerprint
from app.graphql.core.pagination import PageInfo, decode_cursor, encode_cursor, page_size
from app.graphql.core.permissions import Forbidding, IsOps
from app.graphql.core.terms import spec_terms
from app.graphql.ledger.types import PointsBalance, load_balance
from app.graphql.mall.lotteries import LotteryMutation
from app.graphql.mall.types import (
    Lottery,
    LotteryDraw,
    LotteryPrize,
    MallItem,
    MallItemConnection,
    MallItemEdge,
    MallItemKind,
    MallOrder,
)
from app.graphql.members.types import Member, changed_member_field
from app.graphql.rights.types import MemberRight


class CanOrder(Forbidding):
    """A member for themself; ops for anyone (customer service)."""

    def allows(self, principal: Principal) -> bool:
        return principal.is_member or principal.has_role("ops")


class CanConfirmPayments(Forbidding):
    message = "Only the payment service's key (scope payments) may confirm a payment."

    def allows(self, principal: Principal) -> bool:
        return principal.has_scope("payments")


class CanShip(Forbidding):
    """A supplier's key (the domain checks it is the item's supplier), or ops."""

    def allows(self, principal: Principal) -> bool:
        return principal.is_partner or principal.has_role("ops")


@strawberry.input
class CreateMallItemInput:
    name: str
    kind: MallItemKind  # type: ignore[valid-type]
    supplier_unit_id: strawberry.ID = strawberry.field(description="The supplier: id or code.")
    points_price: int
    cash_price: Decimal | None = strawberry.field(default=None, description="Null: points alone.")
    description: str | None = None
    stock: int | None = strawberry.field(default=None, description="Null: unlimited.")
    per_member_limit: int | None = None
    sale_starts_at: datetime | None = None
    sale_ends_at: datetime | None = None
    tier_only_code: str | None = None
    right_ids: list[strawberry.ID] | None = None
    flash_sale: bool = False
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class UpdateMallItemInput:
    item_id: strawberry.ID
    name: str | None = None
    kind: MallItemKind | None = None  # type: ignore[valid-type]
    supplier_unit_id: strawberry.ID | None = None
    points_price: int | None = None
    cash_price: Decimal | None = None
    description: str | None = None
    stock: int | None = None
    per_member_limit: int | None = None
    sale_starts_at: datetime | None = None
    sale_ends_at: datetime | None = None
    tier_only_code: str | None = None
    right_ids: list[strawberry.ID] | None = None
    flash_sale: bool | None = None
    active: bool | None = strawberry.field(default=None, description="False: off the shelf.")
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.type
class MallItemPayload:
    item: MallItem | None = None
    replayed: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class PlaceMallOrderInput:
    item_id: strawberry.ID
    quantity: int = 1
    member_id: strawberry.ID | None = strawberry.field(
        default=None, description="A member token orders for themself; ops name the member."
    )
    delivery_address: str | None = strawberry.field(
        default=None, description="A PHYSICAL gift's (1-300 characters)."
    )
    idempotency_key: str = strawberry.field(
        description="A retry with the same key returns the first result."
    )


@strawberry.input
class CancelMallOrderInput:
    order_id: strawberry.ID
    reason: str | None = strawberry.field(default=None, description="Ops: required.")
    idempotency_key: str


@strawberry.type
class MallOrderPayload:
    order: MallOrder | None = None
    balance: PointsBalance | None = None
    member: Member | None = changed_member_field()
    replayed: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class ConfirmMallPaymentInput:
    order_id: strawberry.ID
    payment_ref: str = strawberry.field(description="The payment service's reference.")
    amount: Decimal = strawberry.field(description="CNY; must equal the order's cash due.")
    idempotency_key: str


@strawberry.input
class ShipMallOrderInput:
    order_id: strawberry.ID
    carrier: str
    tracking_number: str
    idempotency_key: str | None = None


@strawberry.input(description="The member (or customer service) received a shipped gift.")
class ConfirmMallReceiptInput:
    order_id: strawberry.ID = strawberry.field(description="A SHIPPED gift's order.")
    idempotency_key: str = strawberry.field(
        description="A retry with the same key returns the first result."
    )


@strawberry.type
class MallOrderChangePayload:
    order: MallOrder | None = None
    replayed: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


def _terms(input: Any, *, given_only: bool) -> dict[str, Any]:
    return spec_terms(
        input,
        catalogue.MallItemSpec,
        given_only=given_only,
        unit=("supplier_unit_id", "supplier_unit"),
        tuples=("right_ids",),
    )


async def _item_change(info: Info, operation: str, input: Any, change: Any) -> MallItemPayload:
    item_id, replayed, errors = await execute_change(info.context, operation, input, change)
    if item_id is None:
        return MallItemPayload(errors=errors)
    async with info.context.uow() as uow:
        row = await catalogue.get_item(uow, item_id)
    return MallItemPayload(item=MallItem.from_row(row), replayed=replayed)


async def _shown(info: Info, result: dict[str, Any]) -> MallOrder:
    async with info.context.uow() as uow:
        order, item = await orders.get_order(uow, result["order_id"])
    return MallOrder.from_rows(order, item)


async def _order_change(
    info: Info, operation: str, input: Any, change: Any, *, key_required: bool = True
) -> tuple[dict[str, Any], list[UserError], MallOrder | None]:
    """Run one change of an order through the mutation pipeline; the order as committed."""

    async def effect(uow):
        order = await change(uow)
        return {"order_id": order.id, "member_id": order.member_id}

    result, errors = await execute(
        info.context,
        operation=operation,
        effect=effect,
        idempotency_key=input.idempotency_key,
        payload=fingerprint(input),
        key_required=key_required,
    )
    return result, errors, None if errors else await _shown(info, result)


def _attempt(principal: Principal, input: PlaceMallOrderInput) -> Attempt | None:
    """A member's own order as the flash gate counts it (None: the gate is not asked)."""
    wanted = str(input.member_id).strip() if input.member_id is not None else None
    own = principal.member_id
    if not principal.is_member or own is None or wanted not in (None, str(own)):
        return None
    text = str(input.item_id).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        return None
    if not isinstance(input.quantity, int) or not 1 <= input.quantity <= orders.MAX_QUANTITY:
        return None
    key = f"{principal.caller}:{input.idempotency_key}"
    return Attempt(item_id=int(text), member_id=own, quantity=input.quantity, key=key)


@strawberry.input
class DrawLotteryInput:
    lottery_id: strawberry.ID
    member_id: strawberry.ID | None = strawberry.field(
        default=None, description="A member token draws for themself; ops name the member."
    )
    idempotency_key: str


@strawberry.type
class DrawLotteryPayload:
    draw: LotteryDraw | None = None
    balance: PointsBalance | None = None
    member: Member | None = changed_member_field()
    replayed: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class MallQuery:
    @strawberry.field(description="The open lotteries with their prizes and published odds.")
    async def lotteries(self, info: Info) -> list[Lottery]:
        async with info.context.uow() as uow:
            rows = await lottery.open_lotteries(uow)
        return [Lottery.from_rows(row, prizes, odds) for row, prizes, odds in rows]

    @strawberry.field(description="The mall's items on sale or coming, by id; of one `kind`;"
                      " `first` at most 100.")  # fmt: skip
    async def mall_items(
        self,
        info: Info,
        kind: MallItemKind | None = None,  # type: ignore[valid-type]
        first: int | None = None,
        after: str | None = None,
    ) -> MallItemConnection:
        try:
            limit = page_size(first)
            after_id = decode_cursor("mallItem", after)
            async with info.context.uow() as uow:
                rows = await catalogue.list_items(
                    uow, limit=limit + 1, after_id=after_id, kind=kind.value if kind else None
                )
        except DomainError as error:
            raise domain_graphql_error(error) from None
        edges = [
            MallItemEdge(cursor=encode_cursor("mallItem", row.id or 0), node=MallItem.from_row(row))
            for row in rows[:limit]
        ]
        return MallItemConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(rows) > limit, end_cursor=edges[-1].cursor if edges else None
            ),
        )

    @strawberry.field(description="One item (null: no such item).")
    async def mall_item(self, info: Info, id: strawberry.ID) -> MallItem | None:
        try:
            async with info.context.uow() as uow:
                row = await catalogue.get_item(uow, id)
        except DomainError:
            return None
        return MallItem.from_row(row)


@strawberry.type
class MallMutation(LotteryMutation):
    @strawberry.mutation(permission_classes=[IsOps], description="Ops: add an item; audited.")
    async def create_mall_item(self, info: Info, input: CreateMallItemInput) -> MallItemPayload:
        spec = catalogue.MallItemSpec(**_terms(input, given_only=False))
        return await _item_change(
            info, "createMallItem", input, partial(catalogue.create_item, spec=spec)
        )

    @strawberry.mutation(
        permission_classes=[IsOps],
        description="Ops: change an item's terms (only the fields given); audited. Orders"
        " placed keep what they cost.",
    )
    async def update_mall_item(self, info: Info, input: UpdateMallItemInput) -> MallItemPayload:
        changes = _terms(input, given_only=True)
        if input.active is not None:
            changes["active"] = input.active
        update = partial(catalogue.update_item, item_id=input.item_id, changes=changes)
        payload = await _item_change(info, "updateMallItem", input, update)
        if payload.item is not None:  # the gate rebuilds the item's state from the database
            await info.context.services.flash_gate.forget(int(payload.item.id))
        return payload

    @strawberry.mutation(
        permission_classes=[CanOrder],
        description="Order an item: INVALID_INPUT, NOT_ON_SALE, TIER_REQUIRED, LIMIT_REACHED,"
        " OUT_OF_STOCK or INSUFFICIENT_POINTS charge nothing.",
    )
    async def place_mall_order(self, info: Info, input: PlaceMallOrderInput) -> MallOrderPayload:
        ctx = info.context
        attempt = _attempt(ctx.principal, input)

        async def place(uow):
            member_id = await authorise(uow, ctx.principal, member_id=input.member_id)
            assert member_id is not None
            return await orders.place_order(
                uow,
                member_id=member_id,
                item_id=input.item_id,
                quantity=input.quantity,
                caller=ctx.principal.caller,
                caller_ref=input.idempotency_key,
                delivery_address=input.delivery_address,
                payment_window=timedelta(minutes=ctx.services.settings.mall_payment_minutes),
                # an order that did not pass the gate (ops): the gate learns its stock after it
                gate=ctx.services.flash_gate if attempt is None else None,
            )

        if attempt is None:  # an ops order, or one the pipeline refuses: no gate
            result, errors, order = await _order_change(info, "placeMallOrder", input, place)
        else:
            gate = ctx.services.flash_gate
            verdict = await gate.enter(ctx.uow, attempt, now=ctx.now())
            refusal = refusal_of(verdict)
            if refusal is not None:  # no database transaction for the gate's refusal
                return MallOrderPayload(errors=[user_error(refusal)])
            result, errors, order = await _order_change(info, "placeMallOrder", input, place)
            if errors and verdict == Verdict.ADMITTED:
                await gate.settle(attempt, ErrorCode(errors[0].code))
        if order is None:
            return MallOrderPayload(errors=errors)
        return MallOrderPayload(
            order=order,
            balance=await load_balance(info, result["member_id"]),
            replayed=result.get("replayed", False),
        )

    @strawberry.mutation(
        permission_classes=[CanOrder],
        description="Cancel an order: a member their own before shipping; ops any, with a"
        " reason. Points and stock come back; unused issued rights are revoked.",
    )
    async def cancel_mall_order(self, info: Info, input: CancelMallOrderInput) -> MallOrderPayload:
        principal = info.context.principal
        cancel = partial(
            orders.cancel_order,
            order_id=input.order_id,
            caller=principal.caller,
            reason=input.reason,
            member_id=principal.member_id if principal.is_member else None,
            gate=info.context.services.flash_gate,
        )
        result, errors, order = await _order_change(info, "cancelMallOrder", input, cancel)
        if order is None:
            return MallOrderPayload(errors=errors)
        return MallOrderPayload(
            order=order,
            balance=await load_balance(info, result["member_id"]),
            replayed=result.get("replayed", False),
        )

    @strawberry.mutation(
        permission_classes=[CanOrder],
        description="Draw once: costs the lottery's points; LIMIT_REACHED past the daily"
        " draws, INSUFFICIENT_POINTS charge nothing.",
    )
    async def draw_lottery(self, info: Info, input: DrawLotteryInput) -> DrawLotteryPayload:
        ctx = info.context

        async def effect(uow):
            member_id = await authorise(uow, ctx.principal, member_id=input.member_id)
            assert member_id is not None
            result = await lottery.draw(
                uow,
                lottery_id=input.lottery_id,
                member_id=member_id,
                caller=ctx.principal.caller,
                caller_ref=input.idempotency_key,
            )
            return {"draw_id": result.draw.id, "member_id": member_id}

        result, errors = await execute(
            ctx,
            operation="drawLottery",
            effect=effect,
            idempotency_key=input.idempotency_key,
            payload=fingerprint(input),
            key_required=True,
        )
        if errors:
            return DrawLotteryPayload(errors=errors)
        async with ctx.uow() as uow:
            shown = await lottery.shown_draw(uow, result["draw_id"])
        record, prize, odds, held = shown
        return DrawLotteryPayload(
            draw=LotteryDraw(
                id=strawberry.ID(str(record.id)),
                won=record.won,
                odds_version=record.odds_version,
                prize=LotteryPrize.from_row(prize, odds)
                if prize is not None and record.won
                else None,
                member_right=MemberRight.from_rows(held[0], held[1], ctx.now()) if held else None,
            ),
            balance=await load_balance(info, result["member_id"]),
            replayed=result.get("replayed", False),
        )

    @strawberry.mutation(
        permission_classes=[CanConfirmPayments],
        description="The payment service: an order's cash part was paid (the amount to the"
        " cent: AMOUNT_MISMATCH otherwise; too late: WRONG_STATE).",
    )
    async def confirm_mall_payment(
        self, info: Info, input: ConfirmMallPaymentInput
    ) -> MallOrderChangePayload:
        confirm = partial(
            orders.confirm_payment,
            order_id=input.order_id,
            payment_ref=input.payment_ref,
            amount=input.amount,
            caller=info.context.principal.caller,
        )
        result, errors, order = await _order_change(info, "confirmMallPayment", input, confirm)
        return MallOrderChangePayload(
            order=order, replayed=result.get("replayed", False), errors=errors
        )

    @strawberry.mutation(
        permission_classes=[CanShip],
        description="The item's supplier (or ops): a PAID gift was shipped.",
    )
    async def ship_mall_order(
        self, info: Info, input: ShipMallOrderInput
    ) -> MallOrderChangePayload:
        principal = info.context.principal
        ship = partial(
            orders.ship_order,
            order_id=input.order_id,
            carrier=input.carrier,
            tracking_number=input.tracking_number,
            unit_id=principal.unit_id if principal.is_partner else None,
        )
        result, errors, order = await _order_change(
            info, "shipMallOrder", input, ship, key_required=False
        )
        return MallOrderChangePayload(
            order=order, replayed=result.get("replayed", False), errors=errors
        )

    @strawberry.mutation(
        permission_classes=[CanOrder],
        description="A shipped gift was received: the order is COMPLETED (a member their own,"
        " ops any; before shipping, or a voucher order: WRONG_STATE). Gifts not confirmed"
        " complete MALL_AUTO_COMPLETE_DAYS after shipping.",
    )
    async def confirm_mall_receipt(
        self, info: Info, input: ConfirmMallReceiptInput
    ) -> MallOrderChangePayload:
        principal = info.context.principal
        receive = partial(
            completion.confirm_receipt,
            order_id=input.order_id,
            caller=principal.caller,
            member_id=principal.member_id if principal.is_member else None,
        )
        result, errors, order = await _order_change(info, "confirmMallReceipt", input, receive)
        return MallOrderChangePayload(
            order=order, replayed=result.get("replayed", False), errors=errors
        )
