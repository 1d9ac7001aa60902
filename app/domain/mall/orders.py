"""Mall orders: placing one spends points atomically with the stock; cash waits for payment.

- **Place** (`place_order`): under the member's balance lock, so one member's simultaneous
  orders are counted one after another against the item's per-member limit; the stock is taken
  by one conditional UPDATE of the item's row (`stock_remaining >= quantity`), which holds that
  row until the transaction ends, so the item is never oversold. That UPDATE is the order's
  last statement (after the points, the order's row and its rights), so the row every order of
  the item queues on is held for the commit only; OUT_OF_STOCK is first checked on the item as
  read, in its place among the refusals, and the UPDATE has the last word (an item that sells
  out meanwhile: OUT_OF_STOCK even after the points were found, all of it rolled back). Points
  go through the ledger's redemption (earliest-expiring lots, each point traced to its lot)
  with the item's supplier as the redeeming unit. Refusals, in the order checked:
  INVALID_INPUT (quantity 1-99, a delivery address for a PHYSICAL gift), NOT_ON_SALE,
  TIER_REQUIRED, LIMIT_REACHED, OUT_OF_STOCK, INSUFFICIENT_POINTS; any refusal rolls the
  whole transaction back: nothing is charged and no stock is used.
- **States**: an order with a cash part is AWAITING_PAYMENT until the payment service confirms
  it (`confirm_payment`, amount to the cent: AMOUNT_MISMATCH otherwise; the same payment again
  is the same result) or the expiry job expires it (EXPIRED, its points and stock back). A paid
  (or points-only) VOUCHER / RIGHT_PACKAGE order issues its rights in the same transaction and
  is FULFILLED; a PHYSICAL one is PAID until its supplier (or ops) ships it (SHIPPED).
- **Cancel** (`cancel_order`): the member before shipping; ops at any time, with a reason. The
  points go back through the ledger's restore path to the lots they came from (a lot that
  expired meanwhile comes back as a grace lot), the stock comes back, unused issued rights are
  revoked; once one of them is used the order cannot be cancelled (VOUCHER_USED). A paid order
  records the cash refund the payment service owes (`cash_refund_due`). Every path that ends an
  order after its points were taken (cancel, expiry) goes through `_give_back`: there is no
  path that keeps the points of an order that did not happen.
- The flash sale's gate (`gate`, app.domain.mall.flash_gate) is told, after the commit, of
  stock an order took without passing it (an order ops place for a member) and of stock a
  cancel or an expiry gives back, so it admits right away what the database now holds.
- Completion (COMPLETED: a gift received, the vouchers used) is app.domain.mall.completion.
- Locks, always in this order: the member's balance, the order's row, its vouchers' rows. A
  write-off locks only the voucher's row, so a cancel and a write-off of the order's voucher are
  serialised: one wins, the other sees the voucher REVOKED, or USED.
Every change of status sends MALL_ORDER_CHANGED through the outbox (docs/webhooks.md).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from sqlalchemy import func, select

from app.domain.ledger.accounts import TxKind
from app.domain.ledger.redemption import redeem, restore
from app.domain.ledger.writer import lock_balance, lock_member
from app.domain.mall.catalogue import MallItemKind, get_item
from app.domain.rights.voucher_events import EndReason, record_voucher_ended
from app.domain.rights.wallet import RightSource, RightStatus, issue_right
from app.domain.shared.errors import DomainError, ErrorCode, PermissionDenied
from app.domain.shared.events import EventType
from app.domain.shared.money import parse_amount
from app.domain.tiers.standing import current_standing, read_ladder
from app.models import MallItem, MallOrder, MemberRight, PointsTransaction, Right
from app.platform.outbox import DomainEvent
from app.platform.uow import UnitOfWork

MAX_QUANTITY = 99


class OrderStatus(StrEnum):
    AWAITING_PAYMENT = "AWAITING_PAYMENT"
    PAID = "PAID"  # a PHYSICAL gift waiting for its shipment
    FULFILLED = "FULFILLED"  # its rights issued
    SHIPPED = "SHIPPED"
    COMPLETED = "COMPLETED"  # a gift received, or every issued right used or ended
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"  # unpaid past its payment window


ENDED = (OrderStatus.CANCELLED.value, OrderStatus.EXPIRED.value)
PAID_STATES = (OrderStatus.PAID, OrderStatus.FULFILLED, OrderStatus.SHIPPED, OrderStatus.COMPLETED)

_TAKE_STOCK = """UPDATE mall_items SET stock_remaining = stock_remaining - $2
WHERE id = $1 AND stock_remaining >= $2
RETURNING stock_remaining"""
_GIVE_BACK_STOCK = """UPDATE mall_items SET stock_remaining = stock_remaining + $2
WHERE id = $1 AND stock_remaining IS NOT NULL"""


class StockGate(Protocol):
    """What the flash sale's gate is told after a commit (app.domain.mall.flash_gate)."""

    async def moved(self, item_id: int, member_id: int, quantity: int) -> None:
        """`quantity` units went to the member (negative: came back from them)."""


def tell_gate(
    uow: UnitOfWork, gate: StockGate | None, item: MallItem, member_id: int, quantity: int
) -> None:
    """Once the transaction commits, the gate of a flash sale learns that `quantity` of the
    item's stock went to the member (negative: came back). Nothing for another item, or when
    the transaction rolls back."""
    if gate is None or not item.flash_sale or item.stock_remaining is None:
        return
    item_id = item.id or 0

    async def moved(committed: bool) -> None:
        if committed:
            await gate.moved(item_id, member_id, quantity)

    uow.on_end(moved)


def _bad(message: str, field: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, message, field)


def _text(value: str | None, name: str, most: int, *, required: bool) -> str | None:
    text = (value or "").strip()
    if (required and not text) or len(text) > most:
        raise _bad(f"{name} must be {'1' if required else '0'}-{most} characters", name)
    return text or None


def announce(uow: UnitOfWork, order: MallOrder, item: MallItem) -> None:
    """MALL_ORDER_CHANGED for the order's status now, to the supplier's endpoints."""
    uow.record_event(
        DomainEvent(
            type=EventType.MALL_ORDER_CHANGED.value,
            member_id=order.member_id,
            business_unit_id=item.supplier_unit_id,
            payload={
                "orderId": order.id,
                "memberId": order.member_id,
                "status": order.status,
                "itemId": item.id,
                "supplierUnitId": item.supplier_unit_id,
            },
        )
    )


def check_on_sale(item: MallItem, uow: UnitOfWork) -> None:
    """NOT_ON_SALE when the item is withdrawn or outside its sale window."""
    if not item.active:
        raise DomainError(ErrorCode.NOT_ON_SALE, f"{item.name} is withdrawn", "itemId")
    if item.sale_starts_at is not None and uow.now < item.sale_starts_at:
        raise DomainError(
            ErrorCode.NOT_ON_SALE,
            f"{item.name} is on sale from {item.sale_starts_at.isoformat()}",
            "itemId",
        )
    if item.sale_ends_at is not None and uow.now >= item.sale_ends_at:
        raise DomainError(ErrorCode.NOT_ON_SALE, f"{item.name}'s sale has ended", "itemId")


async def check_tier(uow: UnitOfWork, member_id: int, item: MallItem) -> None:
    """TIER_REQUIRED when the item is for a tier above the member's."""
    if item.tier_only_code is None:
        return
    tiers, _ = await read_ladder(uow)
    ranks = {tier.code: tier.rank for tier in tiers}
    tier = (await current_standing(uow, member_id)).tier
    if tier.rank < ranks.get(item.tier_only_code, 0):
        raise DomainError(
            ErrorCode.TIER_REQUIRED, f"{item.name} is for {item.tier_only_code} members", "itemId"
        )


async def ordered_by(uow: UnitOfWork, member_id: int, item_id: int) -> int:
    """How many of the item the member has ordered (cancelled and expired orders do not count)."""
    total = await uow.session.scalar(
        select(func.coalesce(func.sum(MallOrder.quantity), 0)).where(
            MallOrder.member_id == member_id,
            MallOrder.item_id == item_id,
            MallOrder.status.not_in(ENDED),  # type: ignore[attr-defined]
        )
    )
    return int(total or 0)


def check_quantity(quantity: int) -> None:
    if not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
        raise _bad(f"quantity must be 1-{MAX_QUANTITY}", "quantity")


async def place_order(
    uow: UnitOfWork,
    *,
    member_id: int | str,
    item_id: int | str,
    quantity: int,
    caller: str,
    payment_window: timedelta,
    caller_ref: str | None = None,
    delivery_address: str | None = None,
    gate: StockGate | None = None,
) -> MallOrder:
    """The member orders `quantity` of the item (see the module's docstring for the rules).
    `gate`: the order did not pass the flash sale's gate (ops placed it): tell it the stock
    taken once committed."""
    check_quantity(quantity)
    address = _text(delivery_address, "deliveryAddress", 300, required=False)
    member, balance = await lock_member(uow, member_id)
    assert member.id is not None
    item = await get_item(uow, item_id)
    assert item.id is not None
    check_on_sale(item, uow)
    await check_tier(uow, member.id, item)
    if item.kind == MallItemKind.PHYSICAL and address is None:
        raise _bad("a gift needs a delivery address", "deliveryAddress")
    if item.per_member_limit is not None:
        if await ordered_by(uow, member.id, item.id) + quantity > item.per_member_limit:
            raise DomainError(
                ErrorCode.LIMIT_REACHED, f"at most {item.per_member_limit} per member", "itemId"
            )
    if item.stock_remaining is not None and item.stock_remaining < quantity:
        raise _sold_out(item)  # as read: the conditional UPDATE below has the last word
    points = item.points_price * quantity
    cash = (item.cash_price * quantity).quantize(Decimal("0.01"))
    tx_id = None
    if points:
        tx = PointsTransaction(
            member_id=member.id,
            kind=TxKind.MALL_ORDER.value,
            source="MALL",
            rule=f"mall:{item.id}",
            business_unit_id=item.supplier_unit_id,
            points=-points,
            caller=caller[:64],
            caller_ref=caller_ref,
            created_at=uow.now,
        )
        tx_id = (await redeem(uow, tx, balance, redeemer_unit_id=item.supplier_unit_id)).id
    order = MallOrder(
        member_id=member.id,
        item_id=item.id,
        quantity=quantity,
        status=OrderStatus.AWAITING_PAYMENT.value,
        points_spent=points,
        cash_due=cash,
        transaction_id=tx_id,
        delivery_address=address,
        pay_by=uow.now + payment_window if cash else None,
        caller=caller[:64],
        created_at=uow.now,
        updated_at=uow.now,
    )
    uow.session.add(order)
    await uow.session.flush()
    if not cash:
        await _fulfil(uow, order, item)
    # The stock last: its UPDATE holds the item's row until the commit, and every other order
    # of the item waits for that row, so all the order's other work is done before it (in a
    # flash sale the orders that passed the gate sell one after another on this row).
    if item.stock_remaining is not None:
        left = await (await uow.driver()).fetchval(_TAKE_STOCK, item.id, quantity)
        if left is None:
            raise _sold_out(item)
    announce(uow, order, item)
    tell_gate(uow, gate, item, member.id, quantity)
    return order


def _sold_out(item: MallItem) -> DomainError:
    return DomainError(ErrorCode.OUT_OF_STOCK, f"{item.name} is out of stock", "itemId")


async def _fulfil(uow: UnitOfWork, order: MallOrder, item: MallItem) -> None:
    """A paid order: its rights issued (FULFILLED), or its gift waiting to ship (PAID)."""
    if item.kind == MallItemKind.PHYSICAL:
        order.status = OrderStatus.PAID.value
    else:
        rights = {
            right.id: right
            for right in await uow.session.scalars(
                select(Right).where(Right.id.in_(item.right_ids))  # type: ignore[union-attr]
            )
        }
        for _ in range(order.quantity):
            for right_id in item.right_ids:
                await issue_right(
                    uow,
                    member_id=order.member_id,
                    right=rights[right_id],
                    source=RightSource.MALL_ORDER,
                    transaction_id=order.transaction_id,
                    mall_order_id=order.id,
                )
        order.status = OrderStatus.FULFILLED.value
    order.updated_at = uow.now
    await uow.session.flush()


def order_id_of(order_id: int | str) -> int:
    text = str(order_id).strip()
    if not (text.isascii() and text.isdigit()) or int(text) > 2**63 - 1:
        raise DomainError(ErrorCode.NOT_FOUND, f"no mall order {text!r}", "orderId")
    return int(text)


async def get_order(uow: UnitOfWork, order_id: int | str) -> tuple[MallOrder, MallItem]:
    """The order and its item, or NOT_FOUND."""
    row = (
        await uow.session.execute(
            select(MallOrder, MallItem)
            .join(MallItem, MallItem.id == MallOrder.item_id)
            .where(MallOrder.id == order_id_of(order_id))
            .execution_options(populate_existing=True)
        )
    ).first()
    if row is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no mall order {order_id!r}", "orderId")
    return row[0], row[1]


async def locked_order(
    uow: UnitOfWork, order_id: int | str, *, member_lock: bool = True
) -> tuple[MallOrder, MallItem]:
    """The order and its item with the member's balance (when `member_lock`) and then the
    order's row locked (NOT_FOUND if there is none)."""
    wanted = order_id_of(order_id)
    member_id = await uow.session.scalar(select(MallOrder.member_id).where(MallOrder.id == wanted))
    if member_id is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no mall order {wanted}", "orderId")
    if member_lock:
        await lock_balance(uow, member_id)
    order = (
        await uow.session.scalars(
            select(MallOrder)
            .where(MallOrder.id == wanted)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one()
    return order, await get_item(uow, order.item_id)


async def locked_order_rights(uow: UnitOfWork, order_id: int) -> list[MemberRight]:
    """The rights an order issued, locked in id order (every path takes them in that order)."""
    return list(
        await uow.session.scalars(
            select(MemberRight)
            .where(MemberRight.mall_order_id == order_id)
            .order_by(MemberRight.id)  # type: ignore[arg-type]
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )


async def confirm_payment(
    uow: UnitOfWork, *, order_id: int | str, payment_ref: str, amount: Decimal | str, caller: str
) -> MallOrder:
    """The payment service confirms an order's cash part (see the module's docstring)."""
    ref = _text(payment_ref, "paymentRef", 64, required=True)
    paid = parse_amount(amount, "amount")
    order, item = await locked_order(uow, order_id)
    if order.status in PAID_STATES and order.payment_ref == ref and order.paid_amount == paid:
        return order  # the same confirmation again: the same result
    if order.status != OrderStatus.AWAITING_PAYMENT:
        raise DomainError(ErrorCode.WRONG_STATE, f"this order is {order.status}", "orderId")
    if paid != order.cash_due:
        raise DomainError(
            ErrorCode.AMOUNT_MISMATCH, f"this order is due {order.cash_due}, not {paid}", "amount"
        )
    order.payment_ref, order.paid_amount, order.paid_at = ref, paid, uow.now
    await _fulfil(uow, order, item)
    announce(uow, order, item)
    return order


async def ship_order(
    uow: UnitOfWork,
    *,
    order_id: int | str,
    carrier: str,
    tracking_number: str,
    unit_id: int | None,
) -> MallOrder:
    """The supplier (`unit_id`; None: ops) records a PAID gift's shipment; another unit is
    FORBIDDEN, an order not PAID or not a gift WRONG_STATE."""
    by = _text(carrier, "carrier", 40, required=True)
    number = _text(tracking_number, "trackingNumber", 64, required=True)
    order, item = await locked_order(uow, order_id, member_lock=False)
    if unit_id is not None and unit_id != item.supplier_unit_id:
        raise PermissionDenied("only the item's supplier may ship this order")
    if item.kind != MallItemKind.PHYSICAL or order.status != OrderStatus.PAID:
        raise DomainError(ErrorCode.WRONG_STATE, f"this order is {order.status}", "orderId")
    order.carrier, order.tracking_number, order.shipped_at = by, number, uow.now
    order.status = OrderStatus.SHIPPED.value
    order.updated_at = uow.now
    await uow.session.flush()
    announce(uow, order, item)
    return order


async def cancel_order(
    uow: UnitOfWork,
    *,
    order_id: int | str,
    caller: str,
    reason: str | None = None,
    member_id: int | None = None,
    gate: StockGate | None = None,
) -> MallOrder:
    """Cancel an order (see the module's docstring). `member_id`: the caller is that member,
    who may cancel only their own (NOT_FOUND otherwise) and not once shipped or completed;
    else ops, who give a reason. `gate`: told of the stock given back once committed."""
    text = _text(reason, "reason", 200, required=member_id is None)
    order, item = await locked_order(uow, order_id)
    if member_id is not None and order.member_id != member_id:
        raise DomainError(ErrorCode.NOT_FOUND, f"no mall order {order.id}", "orderId")
    if order.status in ENDED:
        raise DomainError(ErrorCode.WRONG_STATE, f"this order is {order.status}", "orderId")
    if member_id is not None and order.status in (OrderStatus.SHIPPED, OrderStatus.COMPLETED):
        raise DomainError(
            ErrorCode.WRONG_STATE,
            f"a {order.status.lower()} order is cancelled by customer service",
            "orderId",
        )
    await _give_back(uow, order, item, OrderStatus.CANCELLED, by=caller, reason=text, gate=gate)
    return order


async def _give_back(
    uow: UnitOfWork,
    order: MallOrder,
    item: MallItem,
    status: OrderStatus,
    *,
    by: str,
    reason: str | None,
    gate: StockGate | None = None,
) -> None:
    """End the order (`status`): unused issued rights revoked (VOUCHER_ENDED for each still
    usable; VOUCHER_USED if one was used: nothing changes then), points back to their lots,
    stock back (the gate told after the commit), the cash refund owed. The caller holds the
    member's balance lock and the order's row."""
    vouchers = await locked_order_rights(uow, order.id)
    if any(held.status == RightStatus.USED for held in vouchers):
        raise DomainError(
            ErrorCode.VOUCHER_USED, "a voucher of this order was already used", "orderId"
        )
    for held in vouchers:
        if held.status in (RightStatus.ACTIVE, RightStatus.EXPIRED):
            usable = held.status == RightStatus.ACTIVE  # an EXPIRED one has had its end
            held.status = RightStatus.REVOKED.value
            held.ended_at, held.ended_by, held.end_reason = uow.now, by[:64], reason
            if usable:
                right = await uow.session.get(Right, held.right_id)
                assert right is not None
                record_voucher_ended(uow, held, right, EndReason.REVOKED, by=by, note=reason)
    if order.transaction_id is not None:
        original = await uow.session.get(PointsTransaction, order.transaction_id)
        assert original is not None and original.id is not None
        balance = await lock_balance(uow, order.member_id)
        tx = PointsTransaction(
            member_id=order.member_id,
            kind=TxKind.MALL_CANCEL.value,
            source="MALL",
            rule=f"mall-{status.lower()}:{item.id}",
            business_unit_id=original.business_unit_id,
            points=-original.points,
            reverses_id=original.id,
            reason=reason,
            caller=by[:64],
            created_at=uow.now,
        )
        order.refund_transaction_id = (await restore(uow, original, tx, balance)).id
    if item.stock_remaining is not None:
        await (await uow.driver()).execute(_GIVE_BACK_STOCK, item.id, order.quantity)
        tell_gate(uow, gate, item, order.member_id, -order.quantity)
    if order.paid_amount is not None:
        order.cash_refund_due = order.paid_amount
    order.status = status.value
    order.ended_at, order.ended_by, order.end_reason = uow.now, by[:64], reason
    order.updated_at = uow.now
    await uow.session.flush()
    announce(uow, order, item)


async def unpaid_due(uow: UnitOfWork, *, limit: int) -> list[int]:
    """Orders still AWAITING_PAYMENT past their payment window, oldest deadline first."""
    return list(
        await uow.session.scalars(
            select(MallOrder.id)
            .where(
                MallOrder.status == OrderStatus.AWAITING_PAYMENT.value,
                MallOrder.pay_by <= uow.now,  # type: ignore[operator]
            )
            .order_by(MallOrder.pay_by)  # type: ignore[arg-type]
            .limit(limit)
        )
    )


async def expire_order(
    uow: UnitOfWork, order_id: int, *, caller: str = "job:mall", gate: StockGate | None = None
) -> bool:
    """Expire the order if it is still unpaid past its window (a payment that won the race
    leaves it alone); whether it did. `gate`: told of the stock given back once committed."""
    order, item = await locked_order(uow, order_id)
    due = order.status == OrderStatus.AWAITING_PAYMENT and order.pay_by is not None
    if not due or order.pay_by > uow.now:  # type: ignore[operator]
        return False
    await _give_back(
        uow, order, item, OrderStatus.EXPIRED, by=caller, reason="not paid in time", gate=gate
    )
    return True
