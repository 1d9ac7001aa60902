"""Business units of the group."""

from __future__ import annotations

import strawberry
from strawberry import Info

from app.domain.shared.units import list_units
from app.graphql.organisation.types import BusinessUnit


@strawberry.type
class OrgQuery:
    @strawberry.field(description="The group's formats: id, code, name, kind, rules.")
    async def business_units(self, info: Info) -> list[BusinessUnit]:
        async with info.context.uow() as uow:
            units = await list_units(uow)
        return [BusinessUnit.from_row(unit) for unit in units]
