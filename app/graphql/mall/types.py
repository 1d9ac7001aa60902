"""Mall items and orders as GraphQL shows them; the rights an item issues and an order's
vouchers through the request's loaders (one statement per batch)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import strawberry
from strawberry import Info

from app.domain.mall.catalogue import MallItemKind as MallItemKindValue
from app.domain.mall.orders import OrderStatus
from app.graphql.core.pagination import PageInfo, encode_cursor
from app.graphql.organisation.types import BusinessUnit, load_unit
from app.graphql.rights.types import MemberRight, Right
from app.graphql.tiers.types import Tier

if TYPE_CHECKING:
    from app.models import Lottery as LotteryModel
    from app.models import LotteryPrize as LotteryPrizeModel
    from app.models import MallItem as MallItemModel
    from app.models import MallOrder as MallOrderModel

MILLION = 1_000_000  # chances are published in parts per million

MallItemKind = strawberry.enum(MallItemKindValue, name="MallItemKind")
MallOrderStatus = strawberry.enum(OrderStatus, name="MallOrderStatus")


@strawberry.type(description="An item on the mall's shelf, supplied by one unit.")
class MallItem:
    id: strawberry.ID
    name: str
    description: str | None
    kind: MallItemKind  # type: ignore[valid-type]
    points_price: int = strawberry.field(description="Per unit ordered.")
    cash_price: Decimal = strawberry.field(description='Per unit; "0.00" when points alone.')
    stock_remaining: int | None = strawberry.field(description="Null: unlimited.")
    per_member_limit: int | None = strawberry.field(description="Null: no limit.")
    sale_starts_at: datetime | None
    sale_ends_at: datetime | None
    flash_sale: bool = strawberry.field(description="Limited stock opening at `saleStartsAt`.")
    supplier_unit_id: strawberry.Private[int]
    tier_code: strawberry.Private[str | None]
    right_ids: strawberry.Private[list[int]]

    @classmethod
    def from_row(cls, row: MallItemModel) -> MallItem:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            description=row.description,
            kind=MallItemKindValue(row.kind),
            points_price=row.points_price,
            cash_price=row.cash_price,
            stock_remaining=row.stock_remaining,
            per_member_limit=row.per_member_limit,
            sale_starts_at=row.sale_starts_at,
            sale_ends_at=row.sale_ends_at,
            flash_sale=row.flash_sale,
            supplier_unit_id=row.supplier_unit_id,
            tier_code=row.tier_only_code,
            right_ids=list(row.right_ids),
        )

    @strawberry.field(description="The unit that ships it or provides its rights.")
    async def supplier(self, info: Info) -> BusinessUnit:
        unit = await load_unit(info, self.supplier_unit_id)
        assert unit is not None  # a foreign key
        return unit

    @strawberry.field(description="The tier-only zone: this tier or a higher one may order it.")
    async def tier_only(self, info: Info) -> Tier | None:
        if self.tier_code is None:
            return None
        rows, _ = await info.context.loaders.tier_ladder.load(0)
        return next((Tier.from_row(row) for row in rows if row.code == self.tier_code), None)

    @strawberry.field(description="What one unit ordered issues: a VOUCHER one right, a"
                      " RIGHT_PACKAGE several, a PHYSICAL gift none.")  # fmt: skip
    async def rights(self, info: Info) -> list[Right]:
        rows = await asyncio.gather(*(info.context.loaders.right.load(i) for i in self.right_ids))
        return [Right.from_row(row) for row in rows if row is not None]


@strawberry.type
class MallItemEdge:
    cursor: str
    node: MallItem


@strawberry.type
class MallItemConnection:
    edges: list[MallItemEdge]
    page_info: PageInfo


@strawberry.type(description="A gift's shipment, as its supplier recorded it.")
class Shipment:
    carrier: str
    tracking_number: str
    shipped_at: datetime


@strawberry.type(description="A member's order in the mall.")
class MallOrder:
    id: strawberry.ID
    status: MallOrderStatus  # type: ignore[valid-type]
    item: MallItem
    quantity: int
    points_spent: int
    cash_due: Decimal = strawberry.field(description='"0.00" when points alone.')
    created_at: datetime
    pay_by: datetime | None = strawberry.field(description="An unpaid order expires then.")
    paid_at: datetime | None
    shipment: Shipment | None
    ended_at: datetime | None = strawberry.field(description="When it was cancelled or expired.")
    end_reason: str | None
    cash_refund_due: Decimal | None = strawberry.field(
        description="A cancelled paid order: the cash the payment service refunds."
    )
    completed_at: datetime | None = strawberry.field(
        description="When it was COMPLETED: a gift received (confirmed, or automatically"
        " MALL_AUTO_COMPLETE_DAYS after shipping), or every issued right used or ended."
    )
    order_id: strawberry.Private[int]

    @classmethod
    def from_rows(cls, order: MallOrderModel, item: MallItemModel) -> MallOrder:
        shipped = order.shipped_at is not None and order.carrier and order.tracking_number
        return cls(
            id=strawberry.ID(str(order.id)),
            status=OrderStatus(order.status),
            item=MallItem.from_row(item),
            quantity=order.quantity,
            points_spent=order.points_spent,
            cash_due=order.cash_due,
            created_at=order.created_at,
            pay_by=order.pay_by,
            paid_at=order.paid_at,
            shipment=Shipment(
                carrier=order.carrier or "",
                tracking_number=order.tracking_number or "",
                shipped_at=order.shipped_at,  # type: ignore[arg-type]
            )
            if shipped
            else None,
            ended_at=order.ended_at,
            end_reason=order.end_reason,
            cash_refund_due=order.cash_refund_due,
            completed_at=order.completed_at,
            order_id=order.id or 0,
        )

    @strawberry.field(description="The rights the order issued, in issue order.")
    async def rights(self, info: Info) -> list[MemberRight]:
        now = info.context.now()
        rows = await info.context.loaders.mall_order_rights.load(self.order_id)
        return [MemberRight.from_rows(held, right, now) for held, right in rows]


@strawberry.type
class MallOrderEdge:
    cursor: str
    node: MallOrder


@strawberry.type
class MallOrderConnection:
    edges: list[MallOrderEdge]
    page_info: PageInfo


async def load_mall_orders(
    info: Info, member_id: int, limit: int, before_id: int | None
) -> MallOrderConnection:
    """A member's orders, newest first (one statement for every member of the request)."""
    rows = await info.context.loaders.mall_orders.load((member_id, limit + 1, before_id))
    edges = [
        MallOrderEdge(
            cursor=encode_cursor("mallOrder", order.id or 0), node=MallOrder.from_rows(order, item)
        )
        for order, item in rows[:limit]
    ]
    return MallOrderConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > limit, end_cursor=edges[-1].cursor if edges else None
        ),
    )


@strawberry.type(description="A prize with its published chance of being drawn.")
class LotteryPrize:
    id: strawberry.ID
    name: str
    probability: Decimal = strawberry.field(
        description="Published chance per draw, e.g. 0.100000 (the fallback's: what is left)."
    )
    stock_remaining: int | None = strawberry.field(description="Null: unlimited.")
    points: int = strawberry.field(description="Points it gives (funded by the group).")
    fallback: bool = strawberry.field(description="Given when the drawn prize has run out.")
    budget_points: int | None = strawberry.field(
        description="A points prize: the points it may still give (null: no budget)."
    )
    right_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, prize: LotteryPrizeModel, odds: list[dict]) -> LotteryPrize:
        """The prize with its chance in the odds table `odds` (0 if it is not in it)."""
        chance = next((row["chancePpm"] for row in odds if row["prizeId"] == prize.id), 0)
        return cls(
            id=strawberry.ID(str(prize.id)),
            name=prize.name,
            probability=(Decimal(chance) / MILLION).quantize(Decimal("0.000001")),
            stock_remaining=prize.stock_remaining,
            points=prize.points,
            fallback=prize.fallback,
            budget_points=prize.budget_points,
            right_id=prize.right_id,
        )

    @strawberry.field(description="The right it gives, if any.")
    async def right(self, info: Info) -> Right | None:
        if self.right_id is None:
            return None
        row = await info.context.loaders.right.load(self.right_id)
        return Right.from_row(row) if row is not None else None


@strawberry.type(description="A points lottery (积分抽奖); draws are recorded with the odds used.")
class Lottery:
    id: strawberry.ID
    name: str
    cost_points: int
    daily_limit: int = strawberry.field(description="Draws a member may make a day (group time).")
    odds_version: int = strawberry.field(description="The published odds table's version.")
    active: bool = strawberry.field(description="False: closed, no draws.", default=True)
    prizes: list[LotteryPrize]

    @classmethod
    def from_rows(
        cls, lottery: LotteryModel, prizes: list[LotteryPrizeModel], odds: list[dict]
    ) -> Lottery:
        """The lottery with its current prizes at the odds of its current table."""
        return cls(
            id=strawberry.ID(str(lottery.id)),
            name=lottery.name,
            cost_points=lottery.cost_points,
            daily_limit=lottery.daily_limit,
            odds_version=lottery.odds_version,
            active=lottery.active,
            prizes=[LotteryPrize.from_row(prize, odds) for prize in prizes],
        )


@strawberry.type(description="One draw: what it rolled, what it gave, under which odds.")
class LotteryDraw:
    id: strawberry.ID
    won: bool
    odds_version: int
    prize: LotteryPrize | None
    member_right: MemberRight | None
