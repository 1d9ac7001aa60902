"""Business units of the group."""

from __future__ import annotations

import strawberry
from sqlalchemy import select
from strawberry import Info

from app.graphql.members.types import BusinessUnit
from app.models import BusinessUnit as BusinessUnitModel


@strawberry.type
class OrgQuery:
    @strawberry.field(description="The group's formats: id, code, name, kind, rules.")
    async def business_units(self, info: Info) -> list[BusinessUnit]:
        async with info.context.services.sessions() as session:
            rows = await session.scalars(select(BusinessUnitModel).order_by(BusinessUnitModel.id))
            return [BusinessUnit.from_row(row) for row in rows]
