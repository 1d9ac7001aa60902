"""Reading the mall for many members at once: each read is one statement, whatever the number
of members or orders (the request's loaders call these)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.mall.orders import ENDED, OrderStatus
from app.models import MallItem, MallOrder, MemberRight, Right

# Open: the order still waits on someone, for its payment (AWAITING_PAYMENT) or its shipment
# (PAID). A shipped order is not open (COMPLETED is set by no operation yet, so SHIPPED is as
# far as an order goes), nor an ended one.
OPEN = (OrderStatus.AWAITING_PAYMENT.value, OrderStatus.PAID.value)
_ENDED = ", ".join(f"'{status}'" for status in ENDED)
_OPEN = ", ".join(f"'{status}'" for status in OPEN)

# The member 360's mall (app.graphql.formats): per member ($1) and supplying unit, the orders
# placed after $2, the points those kept (orders not cancelled or expired: an ended order's
# points went back to the member), the orders open now (whenever placed) and the last order's
# time. One statement for every member of a request, on ix_mall_orders_member.
MEMBER_MALL_SQL = f"""SELECT o.member_id, i.supplier_unit_id,
       count(*) FILTER (WHERE o.created_at > $2) AS orders,
       coalesce(sum(o.points_spent) FILTER (
           WHERE o.created_at > $2 AND o.status NOT IN ({_ENDED})), 0) AS points_spent,
       count(*) FILTER (WHERE o.status IN ({_OPEN})) AS open_orders,
       max(o.created_at) AS last_order_at
FROM mall_orders o JOIN mall_items i ON i.id = o.item_id
WHERE o.member_id = ANY($1::bigint[])
GROUP BY 1, 2"""


async def orders_of(
    session: AsyncSession, member_ids: Sequence[int], *, limit: int, before_id: int | None
) -> dict[int, list[tuple[MallOrder, MallItem]]]:
    """Each member's newest `limit` orders (below id `before_id`) with their items."""
    ranked = select(
        MallOrder.id,
        func.row_number()
        .over(partition_by=MallOrder.member_id, order_by=MallOrder.id.desc())  # type: ignore[union-attr]
        .label("n"),
    ).where(MallOrder.member_id.in_(member_ids))  # type: ignore[attr-defined]
    if before_id is not None:
        ranked = ranked.where(MallOrder.id < before_id)  # type: ignore[operator]
    wanted = ranked.subquery()
    rows = await session.execute(
        select(MallOrder, MallItem)
        .join(MallItem, MallItem.id == MallOrder.item_id)
        .join(wanted, wanted.c.id == MallOrder.id)
        .where(wanted.c.n <= limit)
        .order_by(MallOrder.member_id, MallOrder.id.desc())  # type: ignore[union-attr]
    )
    found: dict[int, list[tuple[MallOrder, MallItem]]] = {member_id: [] for member_id in member_ids}
    for order, item in rows.all():
        found[order.member_id].append((order, item))
    return found


async def vouchers_of(
    session: AsyncSession, order_ids: Sequence[int]
) -> dict[int, list[tuple[MemberRight, Right]]]:
    """The rights each order issued, in issue order, with their catalogue entries."""
    rows = await session.execute(
        select(MemberRight, Right)
        .join(Right, Right.id == MemberRight.right_id)
        .where(MemberRight.mall_order_id.in_(order_ids))  # type: ignore[union-attr]
        .order_by(MemberRight.id)
    )
    found: dict[int, list[tuple[MemberRight, Right]]] = {order_id: [] for order_id in order_ids}
    for held, right in rows.all():
        assert held.mall_order_id is not None
        found[held.mall_order_id].append((held, right))
    return found


async def rights_by_ids(session: AsyncSession, right_ids: Sequence[int]) -> dict[int, Right]:
    """The rights with these ids (the ones mall items issue)."""
    rows = await session.scalars(select(Right).where(Right.id.in_(right_ids)))  # type: ignore[union-attr]
    return {right.id: right for right in rows if right.id is not None}
