"""Member.activity and Member.overview: format data from the per-format sources, plus points
from the ledger, each unit failing alone.

Who sees what: the Member object is reached only by a caller allowed to see that member (a
member themself, operators, a partner for members presented to it); here a partner is further
limited to its own unit's activity and figures.

Partial failure: a unit whose source fails, times out or has its breaker open makes a GraphQL
error with extensions {code: SOURCE_UNAVAILABLE, businessUnit} on that unit's field only:
`overview.formats[i].usage` / `.activity` are nullable and fail per unit, so other units,
balances and tier still arrive. `Member.activity` over all units is one keyset listing
merged across units: a page without one unit's items would make its cursor skip them for
good, so if any unit fails that field is null with one error naming the failed unit(s);
clients that want what the healthy units have use `overview.formats[].activity`.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from enum import Enum

import strawberry
from graphql import GraphQLError
from strawberry import Info
from strawberry.scalars import JSON

from app.domain.shared.errors import DomainError, ErrorCode
from app.graphql.core.errors import domain_graphql_error, forbidden
from app.graphql.core.pagination import PageInfo, page_size
from app.graphql.core.rows import BusinessUnitRow
from app.graphql.formats.details import FormatActivityDetail, kind_detail
from app.graphql.formats.loaders import NO_LEDGER, source_loaders
from app.graphql.ledger.types import PointsBalance, load_balance
from app.graphql.organisation.types import BusinessUnit
from app.graphql.rights.types import MemberRight, RightStatus, load_wallet
from app.graphql.tiers.types import MemberTier, load_member_tier
from app.sources import (
    FormatActivityCursor,
    FormatActivityItem,
    FormatActivityKind,
    SourceUnavailable,
)

strawberry.enum(
    FormatActivityKind,
    name="FormatActivityKind",
    description="What a format source item is: a hotel stay, a parking session, ...",
)


@strawberry.enum(description="Where a unit's format data comes from.")
class FormatSourceKind(Enum):
    DATABASE = "DATABASE"
    HTTP = "HTTP"
    NONE = "NONE"


@strawberry.type(name="ActivityItem")
class FormatActivity:
    business_unit_code: str
    kind: FormatActivityKind
    external_ref: str = strawberry.field(description="The unit's own reference.")
    occurred_at: datetime = strawberry.field(description="Check-in, entry, receipt, bill, order.")
    ended_at: datetime | None = strawberry.field(description="Check-out, exit, bill paid.")
    amount: Decimal = strawberry.field(description="CNY: folio, parking fee, receipt, bill.")
    description: str
    detail: JSON = strawberry.field(
        description="What is particular to the kind: nights/roomType, plate/minutes, "
        "merchantCode/category, period/billType, storeCode/items; as the unit sent it."
    )
    item: strawberry.Private[FormatActivityItem]

    @classmethod
    def from_item(cls, item: FormatActivityItem) -> FormatActivity:
        return cls(
            business_unit_code=item.unit,
            kind=item.kind,
            external_ref=item.external_ref,
            occurred_at=item.occurred_at,
            ended_at=item.ended_at,
            amount=item.amount,
            description=item.description,
            detail=item.detail,
            item=item,
        )

    @strawberry.field(
        description="The kind's own fields, typed (null where the unit left one out)."
    )
    def kind_detail(self) -> FormatActivityDetail:
        return kind_detail(self.item)

    @strawberry.field
    async def business_unit(self, info: Info) -> BusinessUnit | None:
        for row in await source_loaders(info.context).all_units.load(0):
            if row.code == self.business_unit_code:
                return BusinessUnit.from_row(row)
        return None


@strawberry.type(name="ActivityEdge")
class FormatActivityEdge:
    cursor: str
    node: FormatActivity


@strawberry.type(name="ActivityConnection")
class FormatActivityConnection:
    edges: list[FormatActivityEdge]
    page_info: PageInfo


@strawberry.type
class FormatUsage:
    spend: Decimal = strawberry.field(description="CNY spent at the unit in the window.")
    visits: int = strawberry.field(description="Distinct days (group time) with activity.")
    last_visit_at: datetime | None


@strawberry.type
class FormatOverview:
    business_unit: BusinessUnit
    source: FormatSourceKind
    points_earned: int = strawberry.field(description="Earned here in the window, net of refunds.")
    points_redeemed: int = strawberry.field(
        description="Spent here in the window, net of cancellations."
    )
    programme_spend: Decimal = strawberry.field(
        description="CNY of purchases here that earned points in the window, less refunds "
        "(the ledger's view, beside the source's `usage`)."
    )
    programme_visits: int = strawberry.field(
        description="Distinct days (group time) with an order here through the programme."
    )
    member_id: strawberry.Private[int]

    @strawberry.field(
        description="Spend and visits from the unit's source; null without a source, or with "
        "a SOURCE_UNAVAILABLE error when it fails."
    )
    async def usage(self, info: Info) -> FormatUsage | None:
        if self.source is FormatSourceKind.NONE:
            return None
        code = self.business_unit.code
        try:
            usage = await source_loaders(info.context).usage.load((code, self.member_id))
        except SourceUnavailable as error:
            raise unavailable([error]) from None
        return FormatUsage(
            spend=usage.spend, visits=usage.visits, last_visit_at=usage.last_visit_at
        )

    @strawberry.field(description="This unit's activity, newest first (null on failure).")
    async def activity(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> FormatActivityConnection | None:
        if self.source is FormatSourceKind.NONE:
            return FormatActivityConnection(
                edges=[], page_info=PageInfo(has_next_page=False, end_cursor=None)
            )
        return await _listing(info, self.member_id, [self.business_unit.code], first, after)


@strawberry.type(
    description="The member's points mall: orders of the items of the units the caller may "
    "see (a partner: its own unit's items). The orders themselves: Member.mallOrders."
)
class MallOverview:
    orders: int = strawberry.field(description="Orders placed in the 12-month window.")
    points_spent: int = strawberry.field(
        description="Points the window's orders cost, less those of orders cancelled or "
        "expired unpaid (their points went back to the member)."
    )
    open_orders: int = strawberry.field(
        description="Orders waiting now for their payment or their shipment, whenever placed."
    )
    last_order_at: datetime | None = strawberry.field(
        description="The latest order's time, whenever placed; null: none."
    )


@strawberry.type(
    description="The member 360: points, tier, rights, the points mall and, per unit, the "
    "programme's points, spend and visits beside the unit's own data (docs/figures.md)."
)
class MemberOverview:
    """The member 360. Every part loads through the request's loaders, batched across the
    members of a request (one statement each for the units' ledger and the mall)."""

    member_id: strawberry.Private[int]
    since: datetime = strawberry.field(description="Start of the 12-month window (exclusive).")

    @strawberry.field
    async def points(self, info: Info) -> PointsBalance:
        return await load_balance(info, self.member_id)

    @strawberry.field
    async def tier(self, info: Info) -> MemberTier:
        return await load_member_tier(info, self.member_id)

    @strawberry.field(description="The member's rights, newest first, as Member.rights.")
    async def rights(
        self,
        info: Info,
        status: RightStatus | None = None,  # type: ignore[valid-type]
    ) -> list[MemberRight]:
        return await load_wallet(info, self.member_id, status.value if status else None)

    @strawberry.field(description="The member's mall orders (items of the units the caller sees).")
    async def mall(self, info: Info) -> MallOverview:
        units, found = await asyncio.gather(
            visible_units(info), source_loaders(info.context).unit_mall.load(self.member_id)
        )
        parts = [found[unit.id] for unit in units if unit.id in found]
        last = [part.last_order_at for part in parts if part.last_order_at is not None]
        return MallOverview(
            orders=sum(part.orders for part in parts),
            points_spent=sum(part.points_spent for part in parts),
            open_orders=sum(part.open_orders for part in parts),
            last_order_at=max(last) if last else None,
        )

    @strawberry.field(description="One entry per unit the caller may see.")
    async def formats(self, info: Info) -> list[FormatOverview]:
        loaders = source_loaders(info.context)
        units, points = await asyncio.gather(
            visible_units(info), loaders.unit_points.load(self.member_id)
        )
        registry = info.context.services.sources
        return [
            FormatOverview(
                business_unit=BusinessUnit.from_row(unit),
                source=FormatSourceKind(registry.implementation(unit.code).upper()),
                points_earned=points.get(unit.id, NO_LEDGER).earned,
                points_redeemed=points.get(unit.id, NO_LEDGER).redeemed,
                programme_spend=points.get(unit.id, NO_LEDGER).spend,
                programme_visits=points.get(unit.id, NO_LEDGER).visits,
                member_id=self.member_id,
            )
            for unit in units
        ]


async def visible_units(info: Info) -> list[BusinessUnitRow]:
    """All units for members and operators; a partner's own unit only."""
    units = await source_loaders(info.context).all_units.load(0)
    principal = info.context.principal
    if principal is not None and principal.is_partner:
        return [unit for unit in units if unit.id == principal.unit_id]
    return list(units)


def unavailable(errors: list[SourceUnavailable]) -> GraphQLError:
    """SOURCE_UNAVAILABLE naming the first failed unit (and all of them)."""
    units = sorted({error.unit for error in errors})
    return GraphQLError(
        f"Format data of {', '.join(units)} is unavailable right now.",
        extensions={"code": "SOURCE_UNAVAILABLE", "businessUnit": units[0], "businessUnits": units},
    )


async def member_overview(info: Info, member_id: int) -> MemberOverview:
    """The member 360 view (its fields load lazily, batched across members)."""
    return MemberOverview(member_id=member_id, since=source_loaders(info.context).window_start())


async def member_format_activity(
    info: Info,
    member_id: int,
    *,
    business_unit_id: strawberry.ID | None,
    first: int | None,
    after: str | None,
) -> FormatActivityConnection | None:
    """Member.activity: one unit (by id or code) or every unit the caller may see."""
    units = await visible_units(info)
    if business_unit_id is not None:
        ref = str(business_unit_id).strip()
        every = await source_loaders(info.context).all_units.load(0)
        wanted = [u for u in every if str(u.id) == ref or u.code == ref.upper()]
        if not wanted:
            raise domain_graphql_error(
                DomainError(ErrorCode.NOT_FOUND, f"no business unit {ref!r}", "businessUnitId")
            )
        if wanted[0].id not in {unit.id for unit in units}:
            raise forbidden("A partner sees only its own unit's activity.")
        units = wanted
    registry = info.context.services.sources
    codes = [unit.code for unit in units if registry.get(unit.code) is not None]
    return await _listing(info, member_id, codes, first, after)


async def _listing(
    info: Info, member_id: int, codes: list[str], first: int | None, after: str | None
) -> FormatActivityConnection:
    """Keyset page over these units' sources, merged newest first."""
    try:
        limit = page_size(first)
        before = FormatActivityCursor.decode(after) if after is not None else None
    except DomainError as error:
        raise domain_graphql_error(error) from None
    except ValueError:
        raise domain_graphql_error(
            DomainError(ErrorCode.INVALID_INPUT, "malformed cursor", "after")
        ) from None
    loader = source_loaders(info.context).activity
    pages = await asyncio.gather(
        *(loader.load((code, member_id, limit + 1, before)) for code in codes),
        return_exceptions=True,
    )
    failed = [page for page in pages if isinstance(page, SourceUnavailable)]
    if failed:
        raise unavailable(failed)
    for page in pages:
        if isinstance(page, BaseException):
            raise page
    items = sorted(
        (item for page in pages for item in page),  # type: ignore[union-attr]
        key=lambda item: item.cursor,
        reverse=True,
    )[: limit + 1]
    edges = [
        FormatActivityEdge(cursor=item.cursor.encode(), node=FormatActivity.from_item(item))
        for item in items[:limit]
    ]
    return FormatActivityConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(items) > limit, end_cursor=edges[-1].cursor if edges else None
        ),
    )
