"""Output types. Hot leaf fields are plain attributes; related data comes through loaders."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import Info

from app.domain.ledger.accounts import TxKind
from app.domain.members.dynamic_codes import issue_code
from app.domain.members.identity import mask_phone
from app.domain.shared.errors import DomainError
from app.graphql.core.errors import domain_graphql_error, forbidden
from app.graphql.core.loaders import NOT_HELD
from app.graphql.core.pagination import PageInfo, decode_cursor, encode_cursor, page_size
from app.graphql.core.rows import BusinessUnitRow, MemberRow, TransactionRow
from app.graphql.tiers.types import MemberTier, TierChange, load_member_tier, load_tier_history
from app.models import BusinessUnit as BusinessUnitModel
from app.models import Member as MemberModel
from app.models import PointsTransaction as TransactionModel

if TYPE_CHECKING:
    from app.graphql.formats.schema import FormatActivityConnection, MemberOverview


@strawberry.enum
class BusinessUnitKind(Enum):
    MALL = "MALL"
    HOTEL = "HOTEL"
    OFFICE = "OFFICE"
    PROPERTY = "PROPERTY"
    CONVENIENCE = "CONVENIENCE"
    TOURISM = "TOURISM"


strawberry.enum(TxKind, name="PointsTransactionKind")


@strawberry.type
class SpendRules:
    point_value_cny: Decimal = strawberry.field(description="CNY one point is worth here.")
    min_points: int
    step: int
    max_share_of_order: Decimal
    daily_cap: int | None


@strawberry.type
class BusinessUnit:
    id: strawberry.ID
    code: str
    name: str
    kind: BusinessUnitKind
    earn_points_per_cny: Decimal
    pending_days: int
    spend_rules: SpendRules
    growth_weight: Decimal = strawberry.field(
        description="Weight of one CNY spent here in tier growth value."
    )

    @classmethod
    def from_row(cls, row: BusinessUnitRow | BusinessUnitModel) -> BusinessUnit:
        return cls(
            id=strawberry.ID(str(row.id)),
            code=row.code,
            name=row.name,
            kind=BusinessUnitKind(row.kind),
            earn_points_per_cny=row.earn_points_per_cny,
            pending_days=row.pending_days,
            spend_rules=SpendRules(
                point_value_cny=row.point_value_cny,
                min_points=row.spend_min_points,
                step=row.spend_step,
                max_share_of_order=row.spend_max_share,
                daily_cap=row.spend_daily_cap,
            ),
            growth_weight=row.growth_weight,
        )


async def load_unit(info: Info, unit_id: int | None) -> BusinessUnit | None:
    if unit_id is None:
        return None
    row = await info.context.loaders.unit.load(unit_id)
    return _shown_unit(info.context.loaders, unit_id, row)


def unit_now(info: Info, unit_id: int | None) -> BusinessUnit | Awaitable[Any] | None:
    """The unit at once when this request holds it already (a page of transactions brings its
    units along), else an awaitable of it: a synchronous field then costs no coroutine."""
    if unit_id is None:
        return None
    loaders = info.context.loaders
    shown = loaders.shown_units.get(unit_id)
    if shown is not None:
        return shown
    row = loaders.unit.held(unit_id)
    if row is NOT_HELD:
        return load_unit(info, unit_id)
    return _shown_unit(loaders, unit_id, row)


def _shown_unit(loaders: Any, unit_id: int, row: Any) -> BusinessUnit | None:
    """One output object per unit and request, however many transactions show it."""
    if row is None:
        return None
    shown = loaders.shown_units.get(unit_id)
    if shown is None:
        shown = loaders.shown_units[unit_id] = BusinessUnit.from_row(row)
    return shown


@strawberry.type
class ExpiringPoints:
    points: int
    expires_on: date = strawberry.field(description="Local date (group time zone).")
    expires_at: datetime = strawberry.field(description="First instant on that date.")


@strawberry.type
class PointsBalance:
    member_id: strawberry.Private[int]
    available: int = strawberry.field(description="Spendable now; negative while in debt.")
    pending: int = strawberry.field(description="Earned, waiting for the return window.")
    debt: int = strawberry.field(description="Refunded points that had been spent.")

    @strawberry.field(description="Points that expire within the next `withinDays` days.")
    async def expiring(self, info: Info, within_days: int) -> list[ExpiringPoints]:
        days = max(0, min(within_days, 3660))
        rows = await info.context.loaders.expiring.load((self.member_id, days))
        return [ExpiringPoints(points=p, expires_on=d, expires_at=t) for d, t, p in rows]


async def load_balance(info: Info, member_id: int) -> PointsBalance:
    return _balance(member_id, await info.context.loaders.balance.load(member_id))


def _balance(member_id: int, row: Any) -> PointsBalance:
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


@strawberry.type
class DynamicCode:
    code: str
    expires_at: datetime


@strawberry.type
class Member:
    id: strawberry.ID
    display_name: str
    birthday: date | None
    registered_at: datetime
    phone_masked: str
    registered_via_id: strawberry.Private[int]
    code_for_referrals: strawberry.Private[str]

    @classmethod
    def from_row(cls, row: MemberRow | MemberModel) -> Member:
        return cls(
            id=strawberry.ID(str(row.id)),
            display_name=row.display_name,
            birthday=row.birthday,
            registered_at=row.registered_at,
            phone_masked=mask_phone(row.phone),
            registered_via_id=row.registered_via_unit_id,
            code_for_referrals=row.referral_code,
        )

    @strawberry.field(
        description="The code the member gives to friends who register (referral reward); the"
        " member and operators see it, partner apps get null: a format's staff holding other"
        " members' codes could register sham referrals."
    )
    def referral_code(self, info: Info) -> str | None:
        principal = info.context.principal
        return None if principal is None or principal.is_partner else self.code_for_referrals

    @property
    def member_id(self) -> int:
        return int(self.id)

    @strawberry.field(graphql_type=BusinessUnit)
    def registered_via(self, info: Info) -> BusinessUnit | Awaitable[Any] | None:
        return unit_now(info, self.registered_via_id)  # members always have one

    @strawberry.field(graphql_type=PointsBalance)
    def points(self, info: Info) -> PointsBalance | Awaitable[PointsBalance]:
        """At once when the balance came with the member (`me`, `member`), else loaded."""
        row = info.context.loaders.balance.held(self.member_id)
        if row is NOT_HELD:
            return load_balance(info, self.member_id)
        return _balance(self.member_id, row)

    @strawberry.field(description="Current tier, growth value and what the next tier needs.")
    async def tier(self, info: Info) -> MemberTier:
        return await load_member_tier(info, self.member_id)

    @strawberry.field(description="Tier changes and renewals with their reasons, newest first.")
    async def tier_history(self, info: Info) -> list[TierChange]:
        return await load_tier_history(info, self.member_id)

    @strawberry.field(description="Newest first; keyset cursor; `first` at most 100.")
    async def transactions(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
    ) -> PointsTransactionConnection:
        try:
            limit = page_size(first)
            before = decode_cursor("tx", after)
        except DomainError as error:
            raise domain_graphql_error(error) from None
        rows = await info.context.loaders.transactions.load((self.member_id, limit + 1, before))
        page = rows[:limit]
        edges = [
            PointsTransactionEdge(
                cursor=encode_cursor("tx", row.id), node=PointsTransaction.from_row(row)
            )
            for row in page
        ]
        return PointsTransactionConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(rows) > limit,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )

    @strawberry.field(
        description="Activity at the formats (stays, parking, receipts, bills, orders), newest "
        "first: one unit (id or code) or every unit the caller may see; null with a "
        "SOURCE_UNAVAILABLE error when a unit's source fails."
    )
    async def activity(
        self,
        info: Info,
        business_unit_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Annotated[FormatActivityConnection, strawberry.lazy("app.graphql.formats.schema")] | None:
        from app.graphql.formats.schema import member_format_activity

        return await member_format_activity(
            info, self.member_id, business_unit_id=business_unit_id, first=first, after=after
        )

    @strawberry.field(description="The member 360 view: points, tier, and each format's figures.")
    async def overview(
        self, info: Info
    ) -> Annotated[MemberOverview, strawberry.lazy("app.graphql.formats.schema")]:
        from app.graphql.formats.schema import member_overview

        return await member_overview(info, self.member_id)

    @strawberry.field(description="Member only: a code valid for about a minute, for the till.")
    async def dynamic_code(self, info: Info) -> DynamicCode:
        principal = info.context.principal
        if principal is None or not principal.is_member or principal.member_id != self.member_id:
            raise forbidden("Only the member may show their code.")
        code, expires_at = await issue_code(
            info.context.redis,
            prefix=info.context.settings.redis_prefix,
            member_id=self.member_id,
            now=info.context.now(),
            ttl_seconds=info.context.settings.dynamic_code_ttl_seconds,
        )
        return DynamicCode(code=code, expires_at=expires_at)


@strawberry.type
class MemberEdge:
    cursor: str
    node: Member


@strawberry.type
class MemberConnection:
    edges: list[MemberEdge]
    page_info: PageInfo
