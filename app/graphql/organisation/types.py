"""Business units as GraphQL shows them; `load_unit` / `unit_now` through the request's
loaders (one output object per unit and request)."""

from __future__ import annotations

from collections.abc import Awaitable
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry import Info

from app.graphql.core.loaders import NOT_HELD

if TYPE_CHECKING:
    from app.graphql.core.rows import BusinessUnitRow
    from app.models import BusinessUnit as BusinessUnitModel


@strawberry.enum
class BusinessUnitKind(Enum):
    MALL = "MALL"
    HOTEL = "HOTEL"
    OFFICE = "OFFICE"
    PROPERTY = "PROPERTY"
    CONVENIENCE = "CONVENIENCE"
    TOURISM = "TOURISM"


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
