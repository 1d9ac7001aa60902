"""Settlement statements (`settlementStatement`: finance and ops every party's, a unit's key
with the `settlement` scope its own party's) and closing a period (`closeSettlementPeriod`:
finance only); the terms with their effective dates, funding models and pre-paid point blocks
(finance; the blocks readable as the statements are). app.domain.settlement
decides; this only parses, authorises and shapes."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Protocol

import strawberry
from strawberry import Info

from app.domain.access.principals import Principal
from app.domain.settlement import funding, terms
from app.domain.settlement.closing import close_as, may_close, settle_window
from app.domain.settlement.statements import (
    SCOPE,
    may_read_all,
    readable_party,
    settlement_statement,
)
from app.domain.shared.errors import DomainError, PermissionDenied
from app.domain.shared.units import find_unit
from app.graphql.core.errors import UserError, domain_graphql_error, forbidden
from app.graphql.core.execution import execute, fingerprint
from app.graphql.core.permissions import Forbidding
from app.graphql.organisation.types import BusinessUnit, load_unit
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


@strawberry.enum
class FundingModel(Enum):
    POST_PAID = "POST_PAID"
    PRE_PAID = "PRE_PAID"


@strawberry.input
class SetFundingModelInput:
    business_unit_id: strawberry.ID
    model: FundingModel
    effective_from: date | None = strawberry.field(
        default=None,
        description="The day (group time zone) the model takes effect: today (the default)"
        " or earlier, so statements of open past periods use it; later is INVALID_INPUT.",
    )


@strawberry.type
class SetFundingModelPayload:
    business_unit: BusinessUnit | None = None
    funding_model: FundingModel | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class RecordPointBlockInput:
    business_unit_id: strawberry.ID
    points: int
    amount: Decimal = strawberry.field(description="CNY the unit paid for the block.")
    idempotency_key: str


class BlockRow(Protocol):
    """A point block as the domain answers it (app.domain.settlement.funding.point_blocks)."""

    id: int | None
    business_unit_id: int
    points: int
    remaining: int
    amount: Decimal
    bought_at: datetime


@strawberry.type(description="Points a pre-paid unit bought in advance; its earnings draw them.")
class PointBlock:
    id: strawberry.ID = strawberry.field(description="The block's id.")
    points: int = strawberry.field(description="Points bought.")
    remaining: int = strawberry.field(description="Points not drawn yet (refunds give back).")
    amount: Decimal = strawberry.field(description="CNY the unit paid for the block (its price).")
    bought_at: datetime = strawberry.field(description="When finance recorded the purchase.")
    business_unit_id: strawberry.Private[int]

    @strawberry.field(description="Points drawn by earnings, net of what refunds gave back.")
    def drawn(self) -> int:
        return self.points - self.remaining

    @strawberry.field(description="The unit that bought the block.")
    async def business_unit(self, info: Info) -> BusinessUnit | None:
        return await load_unit(info, self.business_unit_id)

    @classmethod
    def of(cls, block: BlockRow) -> PointBlock:
        return cls(
            id=strawberry.ID(str(block.id)),
            points=block.points,
            remaining=block.remaining,
            amount=block.amount,
            bought_at=block.bought_at,
            business_unit_id=block.business_unit_id,
        )


@strawberry.type
class RecordPointBlockPayload:
    block: PointBlock | None = None
    replayed: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.enum(description="Who keeps breakage: GROUP all of it, FUNDERS each its own.")
class BreakagePolicy(Enum):
    GROUP = strawberry.enum_value("GROUP", description="The group keeps all breakage.")
    FUNDERS = strawberry.enum_value(
        "FUNDERS", description="Each funder keeps the breakage of the points it funded."
    )


@strawberry.input(description="The group's settlement terms from a day on.")
class SetSettlementTermsInput:
    effective_from: date = strawberry.field(
        description="The first day (group time zone) they price; a period is priced by the"
        " terms in force on its first day. A closed period keeps its statement."
    )
    clearing_price: Decimal = strawberry.field(
        description="CNY per point, 0 to 1,000 with at most 6 decimals."
    )
    breakage_policy: BreakagePolicy = strawberry.field(description="Who keeps breakage.")
    breakage_rate: Decimal | None = strawberry.field(
        default=None,
        description="The share of points issued expected never to be redeemed (0 up to 1, at"
        " most 4 decimals): breakage is recognised in proportion to redemptions. Null (the"
        " default): it cannot be estimated, breakage is recognised on expiry.",
    )


@strawberry.type(description="The group's terms as recorded, or why they were not.")
class SetSettlementTermsPayload:
    effective_from: date | None = strawberry.field(
        default=None, description="The first day the terms price."
    )
    clearing_price: Decimal | None = strawberry.field(default=None, description="CNY per point.")
    breakage_policy: BreakagePolicy | None = strawberry.field(
        default=None, description="Who keeps breakage."
    )
    breakage_rate: Decimal | None = strawberry.field(
        default=None,
        description="The estimated breakage rate; null: breakage is recognised on expiry.",
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was recorded, if so."
    )


@strawberry.input(description="A unit's settlement terms from a day on (either or both).")
class SetUnitSettlementTermsInput:
    business_unit_id: strawberry.ID = strawberry.field(description="The unit: id or code.")
    effective_from: date = strawberry.field(
        description="The first day (group time zone) they price."
    )
    clearing_price: Decimal | None = strawberry.field(
        default=None,
        description="The price of a point redeemed at the unit, overriding the group's.",
    )
    billing_percentage: Decimal | None = strawberry.field(
        default=None,
        description="The share (0-100) of the clearing amount the unit pays for its points"
        " redeemed at other parties; the group carries the rest.",
    )


@strawberry.type(description="A unit's terms as recorded, or why they were not.")
class SetUnitSettlementTermsPayload:
    business_unit: BusinessUnit | None = strawberry.field(
        default=None, description="The unit the terms are of."
    )
    effective_from: date | None = strawberry.field(
        default=None, description="The first day the terms price."
    )
    clearing_price: Decimal | None = strawberry.field(
        default=None, description="Its price override (CNY per point), if set on that day."
    )
    billing_percentage: Decimal | None = strawberry.field(
        default=None, description="Its billing percentage, if set on that day."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was recorded, if so."
    )


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

    @strawberry.field(
        permission_classes=[CanReadSettlement],
        description="Pre-paid point blocks (purchased, drawn, remaining, bought at, price), by"
        " unit and earliest bought first: finance and ops every unit's, a unit's key with the"
        " settlement scope its own. businessUnitId (id or code) narrows it to one unit.",
    )
    async def point_blocks(
        self,
        info: Info,
        business_unit_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="One unit (id or code); none: all one may see."),
        ] = None,
    ) -> list[PointBlock]:
        ctx = info.context
        try:
            async with ctx.uow() as uow:
                blocks = await funding.point_blocks(
                    uow, principal=ctx.principal, business_unit=business_unit_id
                )
        except PermissionDenied as error:
            raise forbidden(str(error)) from None
        except DomainError as error:
            raise domain_graphql_error(error) from None
        return [PointBlock.of(block) for block in blocks]


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
            settle = settle_window(
                ctx.settings.request_timeout_seconds, ctx.settings.db_statement_timeout_ms
            )
            statement = await close_as(uow, principal=ctx.principal, period=period, settle=settle)
            return {"statement": statement}

        result, errors = await execute(ctx, operation="close-settlement", effect=effect)
        if errors:
            return CloseSettlementPeriodPayload(errors=errors)
        return CloseSettlementPeriodPayload(
            statement=SettlementStatement.of(result["statement"], None)
        )

    @strawberry.mutation(
        permission_classes=[CanCloseSettlement],
        description="Finance: a unit earns post-paid (billed each period) or pre-paid (from"
        " point blocks bought in advance; FUNDING_EXHAUSTED when they are used up).",
    )
    async def set_funding_model(
        self, info: Info, input: SetFundingModelInput
    ) -> SetFundingModelPayload:
        ctx = info.context

        async def effect(uow):
            unit = await funding.set_funding_model(
                uow,
                business_unit=input.business_unit_id,
                model=input.model.value,
                actor=ctx.principal.caller,
                effective_from=input.effective_from,
            )
            return {"unit_id": unit.id, "model": unit.funding_model}

        result, errors = await execute(ctx, operation="set-funding-model", effect=effect)
        if errors:
            return SetFundingModelPayload(errors=errors)
        return SetFundingModelPayload(
            business_unit=await load_unit(info, result["unit_id"]),
            funding_model=FundingModel(result["model"]),
        )

    @strawberry.mutation(
        permission_classes=[CanCloseSettlement],
        description="Finance: the group's clearing price, breakage policy and estimated"
        " breakage rate from a day on"
        " (replacing terms of that same day); audited.",
    )
    async def set_settlement_terms(
        self,
        info: Info,
        input: Annotated[
            SetSettlementTermsInput, strawberry.argument(description="The terms and their day.")
        ],
    ) -> SetSettlementTermsPayload:
        ctx = info.context

        async def effect(uow):
            row = await terms.set_group_terms(
                uow,
                effective_from=input.effective_from,
                clearing_price=input.clearing_price,
                breakage_policy=input.breakage_policy.value,
                breakage_rate=input.breakage_rate,
                actor=ctx.principal.caller,
            )
            rate = None if row.breakage_rate is None else str(row.breakage_rate)
            return {"price": str(row.clearing_price), "policy": row.breakage_policy, "rate": rate}

        result, errors = await execute(ctx, operation="set-settlement-terms", effect=effect)
        if errors:
            return SetSettlementTermsPayload(errors=errors)
        return SetSettlementTermsPayload(
            effective_from=input.effective_from,
            clearing_price=Decimal(result["price"]),
            breakage_policy=BreakagePolicy(result["policy"]),
            breakage_rate=None if result["rate"] is None else Decimal(result["rate"]),
        )

    @strawberry.mutation(
        permission_classes=[CanCloseSettlement],
        description="Finance: a unit's price override and/or billing percentage from a day on"
        " (replacing terms of that same day); audited.",
    )
    async def set_unit_settlement_terms(
        self,
        info: Info,
        input: Annotated[
            SetUnitSettlementTermsInput,
            strawberry.argument(description="The unit, its terms and their day."),
        ],
    ) -> SetUnitSettlementTermsPayload:
        ctx = info.context

        async def effect(uow):
            unit = await find_unit(uow, input.business_unit_id)
            row = await terms.set_unit_terms(
                uow,
                unit_id=unit.id,
                effective_from=input.effective_from,
                clearing_price=input.clearing_price,
                billing_percentage=input.billing_percentage,
                actor=ctx.principal.caller,
            )
            return {
                "unit_id": unit.id,
                "price": None if row.clearing_price is None else str(row.clearing_price),
                "billing": None if row.billing_percentage is None else str(row.billing_percentage),
            }

        result, errors = await execute(ctx, operation="set-unit-settlement-terms", effect=effect)
        if errors:
            return SetUnitSettlementTermsPayload(errors=errors)
        return SetUnitSettlementTermsPayload(
            business_unit=await load_unit(info, result["unit_id"]),
            effective_from=input.effective_from,
            clearing_price=None if result["price"] is None else Decimal(result["price"]),
            billing_percentage=None if result["billing"] is None else Decimal(result["billing"]),
        )

    @strawberry.mutation(
        permission_classes=[CanCloseSettlement],
        description="Finance records a pre-paid unit's purchase of a block of points.",
    )
    async def record_point_block(
        self, info: Info, input: RecordPointBlockInput
    ) -> RecordPointBlockPayload:
        ctx = info.context

        async def effect(uow):
            block = await funding.record_point_block(
                uow,
                business_unit=input.business_unit_id,
                points=input.points,
                amount=input.amount,
                actor=ctx.principal.caller,
            )
            return {
                "id": block.id,
                "unit_id": block.business_unit_id,
                "points": block.points,
                "remaining": block.remaining,
                "amount": str(block.amount),
                "bought_at": block.bought_at.isoformat(),
            }

        result, errors = await execute(
            ctx,
            operation="record-point-block",
            effect=effect,
            idempotency_key=input.idempotency_key,
            payload=fingerprint(input),
            key_required=True,
        )
        if errors:
            return RecordPointBlockPayload(errors=errors)
        block = PointBlock(
            id=strawberry.ID(str(result["id"])),
            points=result["points"],
            remaining=result["remaining"],
            amount=Decimal(result["amount"]),
            bought_at=datetime.fromisoformat(result["bought_at"]),
            business_unit_id=int(result.get("unit_id") or 0),
        )
        return RecordPointBlockPayload(block=block, replayed=result.get("replayed", False))
