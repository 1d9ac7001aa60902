"""Settlement statements as GraphQL shows them (the domain's Statement, shaped)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from urllib.parse import quote

import strawberry
from strawberry import Info

from app.domain.settlement import statement as domain
from app.graphql.organisation.types import BusinessUnit, load_unit


@strawberry.enum
class PeriodStatus(Enum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"


@strawberry.enum
class SettlementLineKind(Enum):
    REDEMPTION = "REDEMPTION"
    REVERSAL = "REVERSAL"
    ADJUSTMENT = "ADJUSTMENT"


@strawberry.type(description="Points of one funder redeemed at one party, and what they cost.")
class SettlementLine:
    funder: str = strawberry.field(description="Party code: a unit's code, or GROUP.")
    issuer: str
    redeemer: str
    merchant: str | None = strawberry.field(description="The redeemer's tenant, if any.")
    kind: SettlementLineKind
    points: int = strawberry.field(description="Negative for a reversal.")
    amount: Decimal = strawberry.field(description="Received by the redeemer (CNY).")
    funder_amount: Decimal = strawberry.field(description="Paid by the funder (CNY).")
    group_amount: Decimal = strawberry.field(description="Carried by GROUP (CNY).")
    original_transaction_id: strawberry.ID | None
    original_period: str | None

    @classmethod
    def of(cls, line: domain.SettlementLine) -> SettlementLine:
        original = line.original_transaction_id
        return cls(
            funder=line.funder,
            issuer=line.issuer,
            redeemer=line.redeemer,
            merchant=line.merchant,
            kind=SettlementLineKind(line.kind),
            points=line.points,
            amount=line.amount,
            funder_amount=line.funder_amount,
            group_amount=line.group_amount,
            original_transaction_id=strawberry.ID(str(original)) if original else None,
            original_period=line.original_period,
        )


@strawberry.type
class SettlementCell:
    issuer: str = strawberry.field(description="The funding party (whose points).")
    redeemer: str
    points: int
    amount: Decimal


@strawberry.type
class PartyStatement:
    party: str
    business_unit_id: strawberry.Private[int | None]
    issued_points: int
    issued_cost: Decimal
    redeemed_in_house_points: int
    payable_points: int
    payable_amount: Decimal
    receivable_points: int
    receivable_amount: Decimal
    breakage_points: int
    breakage_amount: Decimal
    net_amount: Decimal
    liability_points: int
    liability_amount: Decimal
    taken_back_points: int = strawberry.field(
        description="Its points taken back from members in the period without a redemption:"
        " by an order's refund, or to pay off a member's debt."
    )
    funding_model: str | None = strawberry.field(
        description="POST_PAID or PRE_PAID: the unit's funding model in force on the period's"
        " first day. None for GROUP, and in statements closed before models had dates."
    )
    breakage_estimated_amount: Decimal = strawberry.field(
        description="Of `breakageAmount`, what the period recognised in proportion to"
        " redemptions under the estimated breakage rate (0 without a rate)."
    )
    breakage_advance_amount: Decimal = strawberry.field(
        description="As funder: breakage recognised ahead of expiry on its points still"
        " outstanding at the period's end; `liabilityAmount` is net of it."
    )

    @strawberry.field(description="None for GROUP.")
    async def business_unit(self, info: Info) -> BusinessUnit | None:
        return await load_unit(info, self.business_unit_id)


@strawberry.type
class SettlementStatement:
    period: str
    status: PeriodStatus
    closed_at: datetime | None
    clearing_price: Decimal = strawberry.field(description="The group's CNY per point.")
    breakage_policy: str = strawberry.field(description="GROUP or FUNDERS.")
    breakage_rate: Decimal | None = strawberry.field(
        description="The estimated breakage rate in force: breakage recognised in proportion"
        " to redemptions. Null: it cannot be estimated, breakage is recognised on expiry."
    )
    parties: list[PartyStatement]
    matrix: list[SettlementCell]
    lines: list[SettlementLine]
    adjustments: list[SettlementLine] = strawberry.field(
        description="Late reversals of closed periods, booked in this one."
    )
    csv_url: str = strawberry.field(
        description="GET it with the same credential: the statement as CSV (UTF-8, BOM)."
    )

    @classmethod
    def of(cls, statement: domain.Statement, party: str | None) -> SettlementStatement:
        url = f"/settlement/{statement.period}.csv"
        if party is not None:
            url += f"?businessUnitId={quote(party)}"
        return cls(
            period=statement.period,
            status=PeriodStatus(statement.status),
            closed_at=statement.closed_at,
            clearing_price=statement.clearing_price,
            breakage_policy=statement.breakage_policy,
            breakage_rate=statement.breakage_rate,
            parties=[
                PartyStatement(
                    party=p.party,
                    business_unit_id=p.business_unit_id,
                    issued_points=p.issued_points,
                    issued_cost=p.issued_cost,
                    redeemed_in_house_points=p.redeemed_in_house_points,
                    payable_points=p.payable_points,
                    payable_amount=p.payable_amount,
                    receivable_points=p.receivable_points,
                    receivable_amount=p.receivable_amount,
                    breakage_points=p.breakage_points,
                    breakage_amount=p.breakage_amount,
                    net_amount=p.net_amount,
                    liability_points=p.liability_points,
                    liability_amount=p.liability_amount,
                    taken_back_points=p.taken_back_points,
                    funding_model=p.funding_model,
                    breakage_estimated_amount=p.breakage_estimated_amount,
                    breakage_advance_amount=p.breakage_advance_amount,
                )
                for p in statement.parties
            ],
            matrix=[
                SettlementCell(
                    issuer=c.funder, redeemer=c.redeemer, points=c.points, amount=c.amount
                )
                for c in statement.matrix
            ],
            lines=[SettlementLine.of(line) for line in statement.lines],
            adjustments=[SettlementLine.of(line) for line in statement.adjustments],
            csv_url=url,
        )
