"""Settlement statements (`settlementStatement`: finance and ops every party's, a unit's key
with the `settlement` scope its own party's) and closing a period (`closeSettlementPeriod`:
finance only). app.domain.settlement decides; this only parses, authorises and shapes."""

from __future__ import annotations

import strawberry
from strawberry import Info

from app.domain.access.principals import Principal
from app.domain.settlement.closing import close_as, may_close
from app.domain.settlement.statements import (
    SCOPE,
    may_read_all,
    readable_party,
    settlement_statement,
)
from app.domain.shared.errors import DomainError, PermissionDenied
from app.graphql.core.errors import UserError, domain_graphql_error, forbidden
from app.graphql.core.execution import execute
from app.graphql.core.permissions import Forbidding
from app.graphql.settlement.types import SettlementStatement


class CanReadSettlement(Forbidding):
    message = "Settlement is for finance, ops or a unit's key with the settlement scope."

    def allows(self, principal: Principal) -> bool:
        return may_read_all(principal) or principal.has_scope(SCOPE)


class CanCloseSettlement(Forbidding):
    message = "Only finance closes a settlement period."

    def allows(self, principal: Principal) -> bool:
        return may_close(principal)


@strawberry.type
class CloseSettlementPeriodPayload:
    statement: SettlementStatement | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SettlementQuery:
    @strawberry.field(
        permission_classes=[CanReadSettlement],
        description="A period's (YYYY-MM) statement: stored once closed, live while open."
        " businessUnitId (id or code, or GROUP) narrows it to one party.",
    )
    async def settlement_statement(
        self, info: Info, period: str, business_unit_id: strawberry.ID | None = None
    ) -> SettlementStatement:
        ctx = info.context
        try:
            async with ctx.uow() as uow:
                party = await readable_party(uow, ctx.principal, business_unit_id)
                statement = await settlement_statement(
                    uow, principal=ctx.principal, period=period, business_unit=business_unit_id
                )
        except PermissionDenied as error:
            raise forbidden(str(error)) from None
        except DomainError as error:
            raise domain_graphql_error(error) from None
        return SettlementStatement.of(statement, party)


@strawberry.type
class SettlementMutation:
    @strawberry.mutation(
        permission_classes=[CanCloseSettlement],
        description="Close a period that is over (group time zone): its statement is stored"
        " and never changes; closing again changes nothing.",
    )
    async def close_settlement_period(
        self, info: Info, period: str
    ) -> CloseSettlementPeriodPayload:
        ctx = info.context

        async def effect(uow):
            return {"statement": await close_as(uow, principal=ctx.principal, period=period)}

        result, errors = await execute(ctx, operation="close-settlement", effect=effect)
        if errors:
            return CloseSettlementPeriodPayload(errors=errors)
        return CloseSettlementPeriodPayload(
            statement=SettlementStatement.of(result["statement"], None)
        )
