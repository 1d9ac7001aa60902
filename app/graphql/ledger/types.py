"""The ledger as GraphQL shows it: a member's balance, points expiring, and transactions."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry import Info

from app.domain.ledger.accounts import TxKind
from app.graphql.core.pagination import PageInfo
from app.graphql.organisation.types import BusinessUnit, unit_now

if TYPE_CHECKING:
    from app.graphql.core.rows import TransactionRow
    from app.models import PointsTransaction as TransactionModel

strawberry.enum(TxKind, name="PointsTransactionKind")


@strawberry.type
class ExpiringPoints:
    points: int
    expires_on: date = strawberry.field(description="Local date (group time zone).")
    expires_at: datetime = strawberry.field(description="First instant on that date.")


@strawberry.type(
    description="A member's points now. Its key for a normalised client cache is `memberId`"
    " (one balance per member); `Member.points` and every payload's `balance` are the same object."
)
class PointsBalance:
    member_id: strawberry.Private[int]

    @strawberry.field(
        name="memberId",
        description="The member these points belong to (what `pointsChanged` reports on).",
    )
    def owner_id(self) -> strawberry.ID:
        return strawberry.ID(str(self.member_id))

    available: int = strawberry.field(description="Spendable now; negative while in debt.")
    pending: int = strawberry.field(description="Earned, waiting for the return window.")
    debt: int = strawberry.field(description="Refunded points that had been spent.")

    @strawberry.field(description="Points that expire within the next `withinDays` days.")
    async def expiring(self, info: Info, within_days: int) -> list[ExpiringPoints]:
        days = max(0, min(within_days, 3660))
        rows = await info.context.loaders.expiring.load((self.member_id, days))
        return [ExpiringPoints(points=p, expires_on=d, expires_at=t) for d, t, p in rows]


async def load_balance(info: Info, member_id: int) -> PointsBalance:
    return balance_of(member_id, await info.context.loaders.balance.load(member_id))


def balance_of(member_id: int, row: Any) -> PointsBalance:
    return PointsBalance(
        member_id=member_id, available=row.available, pending=row.pending, debt=row.debt
    )


@strawberry.type
class PointsTransaction:
    id: strawberry.ID
    kind: TxKind
    points: int = strawberry.field(
        description="Change to the member's points; for RELEASE, the points made available."
    )
    source: str
    rule: str
    order_ref: str | None
    order_amount: Decimal | None
    cny_value: Decimal | None = strawberry.field(
        description="SPEND: CNY the points paid. EARN_REVERSAL: CNY refunded."
    )
    reason: str | None
    created_at: datetime
    business_unit_id: strawberry.Private[int | None]
    reverses_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: TransactionRow | TransactionModel) -> PointsTransaction:
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=TxKind(row.kind),
            points=row.points,
            source=row.source,
            rule=row.rule,
            order_ref=row.order_ref,
            order_amount=row.order_amount,
            cny_value=row.cny_value,
            reason=row.reason,
            created_at=row.created_at,
            business_unit_id=row.business_unit_id,
            reverses_id=row.reverses_id,
        )

    @strawberry.field(graphql_type=BusinessUnit | None)
    def business_unit(self, info: Info) -> BusinessUnit | Awaitable[Any] | None:
        return unit_now(info, self.business_unit_id)

    @strawberry.field
    def reverses_transaction_id(self) -> strawberry.ID | None:
        return strawberry.ID(str(self.reverses_id)) if self.reverses_id else None


@strawberry.type
class PointsTransactionEdge:
    cursor: str
    node: PointsTransaction


@strawberry.type
class PointsTransactionConnection:
    edges: list[PointsTransactionEdge]
    page_info: PageInfo
