"""Completing mall orders (COMPLETED): the end of an order that went as it should.

- A **PHYSICAL** gift completes when it is received: its member confirms receipt
  (`confirm_receipt`: the member for their own order, NOT_FOUND for another's; ops for any), or
  by itself `auto_days` after it was shipped (MALL_AUTO_COMPLETE_DAYS, default 7: the
  `complete-mall-orders` job), as Chinese points malls do (自动确认收货). Only a SHIPPED gift
  can be received (WRONG_STATE before it ships); confirming again is the same result.
- A **VOUCHER / RIGHT_PACKAGE** order completes when nothing it issued can still be used: each
  of its rights is USED, REVOKED, EXPIRED or past its validity (the job finds them). A member
  does not confirm it: using the vouchers is the confirmation.
- After completion a member can no longer cancel the order (WRONG_STATE); ops still can, with a
  reason (a return after receipt, a goodwill refund), through the same give-back as any cancel
  (points to their lots, stock back, the cash refund owed; VOUCHER_USED if a voucher was used).
- Locks: the order's row, then its vouchers' rows, the order cancel and write-off take them in:
  a receipt racing a cancel, or the job racing either, or two jobs, run one after the other and
  the second sees the first's result (each order completes once).
Every completion sends MALL_ORDER_CHANGED through the outbox.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import exists, select

from app.domain.mall.catalogue import MallItemKind
from app.domain.mall.orders import OrderStatus, announce, locked_order, locked_order_rights
from app.domain.rights.wallet import RightStatus
from app.domain.shared.errors import DomainError, ErrorCode
from app.models import MallItem, MallOrder, MemberRight
from app.platform.uow import UnitOfWork


def _open_vouchers(uow: UnitOfWork):
    """Rights that can still be used: ACTIVE and inside their validity."""
    return (
        select(MemberRight.id)
        .where(
            MemberRight.mall_order_id == MallOrder.id,
            MemberRight.status == RightStatus.ACTIVE.value,
            MemberRight.valid_until > uow.now,  # type: ignore[operator]
        )
        .correlate(MallOrder)
    )


def _complete(uow: UnitOfWork, order: MallOrder, item: MallItem, by: str) -> MallOrder:
    order.status = OrderStatus.COMPLETED.value
    order.completed_at, order.completed_by = uow.now, by[:64]
    order.updated_at = uow.now
    announce(uow, order, item)
    return order


async def confirm_receipt(
    uow: UnitOfWork, *, order_id: int | str, caller: str, member_id: int | None = None
) -> MallOrder:
    """The gift of a SHIPPED order was received (see the module's docstring). `member_id`: the
    caller is that member, who may confirm only their own order; else ops."""
    order, item = await locked_order(uow, order_id, member_lock=False)
    if member_id is not None and order.member_id != member_id:
        raise DomainError(ErrorCode.NOT_FOUND, f"no mall order {order.id}", "orderId")
    if order.status == OrderStatus.COMPLETED and item.kind == MallItemKind.PHYSICAL:
        return order  # received already: the same result
    if item.kind != MallItemKind.PHYSICAL:
        raise DomainError(
            ErrorCode.WRONG_STATE, "a voucher order completes when its vouchers are used", "orderId"
        )
    if order.status != OrderStatus.SHIPPED:
        raise DomainError(
            ErrorCode.WRONG_STATE, f"this order is {order.status}, not shipped", "orderId"
        )
    _complete(uow, order, item, caller)
    await uow.session.flush()
    return order


async def complete_due(uow: UnitOfWork, *, auto_days: int, after_id: int, limit: int) -> list[int]:
    """Orders the job completes, by id after `after_id`: gifts shipped `auto_days` ago or more,
    voucher orders with no right left to use."""
    shipped_by = uow.now - timedelta(days=auto_days)
    gifts = select(MallOrder.id).where(
        MallOrder.status == OrderStatus.SHIPPED.value,
        MallOrder.shipped_at <= shipped_by,  # type: ignore[operator]
        MallOrder.id > after_id,  # type: ignore[operator]
    )
    vouchers = select(MallOrder.id).where(
        MallOrder.status == OrderStatus.FULFILLED.value,
        MallOrder.id > after_id,  # type: ignore[operator]
        ~exists(_open_vouchers(uow)),
    )
    both = gifts.union_all(vouchers).subquery()
    return list(await uow.session.scalars(select(both.c.id).order_by(both.c.id).limit(limit)))


async def complete_order(
    uow: UnitOfWork, order_id: int, *, auto_days: int, caller: str = "job:mall"
) -> bool:
    """Complete the order if it is still due (checked again under its lock: a cancel or a
    receipt that came first leaves it alone); whether it did."""
    order, item = await locked_order(uow, order_id, member_lock=False)
    if order.status == OrderStatus.SHIPPED:
        assert order.shipped_at is not None
        if order.shipped_at > uow.now - timedelta(days=auto_days):
            return False
    elif order.status == OrderStatus.FULFILLED:
        held = await locked_order_rights(uow, order.id)
        usable = [
            one for one in held if one.status == RightStatus.ACTIVE and one.valid_until > uow.now
        ]
        if not held or usable:
            return False
    else:
        return False
    _complete(uow, order, item, caller)
    await uow.session.flush()
    return True
