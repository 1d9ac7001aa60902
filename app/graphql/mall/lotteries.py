"""The operators' lottery mutations: `createLottery`, `updateLottery` and `publishLotteryOdds`
(a new version of the odds table), all audited (app.domain.mall.odds); mixed into the mall's
Mutation type."""

from __future__ import annotations

from functools import partial
from typing import Any

import strawberry
from strawberry import Info

from app.domain.mall import lottery, odds
from app.domain.mall.lottery import PrizeSpec
from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.ids import parse_id
from app.graphql.core.errors import UserError
from app.graphql.core.execution import execute_change
from app.graphql.core.permissions import IsOps
from app.graphql.mall.types import Lottery


@strawberry.input(description="One prize of an odds table, in the order the rolls fall on.")
class LotteryPrizeInput:
    name: str = strawberry.field(description="As members read it (1-80 characters).")
    chance_ppm: int = strawberry.field(
        default=0,
        description="Chance per draw in parts per million (100000 = 10%); the prizes' chances"
        " add up to at most 1000000. The fallback's is what the others leave: 0.",
    )
    right_id: strawberry.ID | None = strawberry.field(
        default=None, description="The right it issues to the winner's wallet."
    )
    points: int = strawberry.field(
        default=0, description="The points it gives, funded by the group's marketing budget."
    )
    stock: int | None = strawberry.field(
        default=None, description="Units left to give (null: unlimited)."
    )
    budget_points: int | None = strawberry.field(
        default=None, description="A points prize: points left to give (null: no budget)."
    )
    fallback: bool = strawberry.field(
        default=False,
        description="The one prize given when the one rolled has run out (may give nothing).",
    )
    prize_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="publishLotteryOdds: the prize of the lottery this row keeps (what it gives"
        " stays); null: a new prize.",
    )


@strawberry.input(description="A new lottery with its first odds table.")
class CreateLotteryInput:
    name: str = strawberry.field(description="1-80 characters.")
    cost_points: int = strawberry.field(description="Points a draw costs (1-100,000).")
    daily_limit: int = strawberry.field(description="Draws a member may make a day (1-1,000).")
    prizes: list[LotteryPrizeInput] = strawberry.field(
        description="1-20 prizes, exactly one of them the fallback."
    )
    reason: str | None = strawberry.field(default=None, description="For the audit trail.")
    idempotency_key: str | None = strawberry.field(
        default=None, description="A retry with the same key returns the first result."
    )


@strawberry.input(description="A lottery's terms to change (only the fields given).")
class UpdateLotteryInput:
    lottery_id: strawberry.ID = strawberry.field(description="The lottery.")
    name: str | None = strawberry.field(default=None, description="1-80 characters.")
    cost_points: int | None = strawberry.field(
        default=None, description="Points a draw costs from now on (1-100,000)."
    )
    daily_limit: int | None = strawberry.field(
        default=None, description="Draws a member may make a day (1-1,000)."
    )
    active: bool | None = strawberry.field(default=None, description="False: closed, no draws.")
    reason: str | None = strawberry.field(default=None, description="For the audit trail.")
    idempotency_key: str | None = strawberry.field(
        default=None, description="A retry with the same key returns the first result."
    )


@strawberry.input(description="The whole of a lottery's next odds table.")
class PublishLotteryOddsInput:
    lottery_id: strawberry.ID = strawberry.field(description="The lottery.")
    prizes: list[LotteryPrizeInput] = strawberry.field(
        description="1-20 prizes, exactly one the fallback; prizes of the current table left"
        " out are retired."
    )
    reason: str | None = strawberry.field(default=None, description="For the audit trail.")
    idempotency_key: str | None = strawberry.field(
        default=None, description="A retry with the same key returns the first result."
    )


@strawberry.type(description="A lottery as an operator's change left it.")
class LotteryPayload:
    lottery: Lottery | None = strawberry.field(
        default=None, description="With its current prizes and odds version."
    )
    replayed: bool = strawberry.field(
        default=False, description="True: the same request again, its first result."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing changed."
    )


def _id(value: strawberry.ID | None, what: str) -> int | None:
    """An id the input names, or NOT_FOUND for one that cannot be any."""
    if value is None:
        return None
    found = parse_id(value, big=True)
    if found is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no {what} {str(value)[:30]!r}", "prizes")
    return found


def _specs(prizes: list[LotteryPrizeInput]) -> list[PrizeSpec]:
    return [
        PrizeSpec(
            name=prize.name,
            chance_ppm=prize.chance_ppm,
            right_id=_id(prize.right_id, "right"),
            points=prize.points,
            stock=prize.stock,
            budget_points=prize.budget_points,
            fallback=prize.fallback,
            prize_id=_id(prize.prize_id, "prize"),
        )
        for prize in prizes
    ]


async def _change(info: Info, operation: str, input: Any, change: Any) -> LotteryPayload:
    """Run one operator's change through the mutation pipeline; the lottery as committed."""
    lottery_id, replayed, errors = await execute_change(info.context, operation, input, change)
    if lottery_id is None:
        return LotteryPayload(errors=errors)
    async with info.context.uow() as uow:
        row = await lottery.get_lottery(uow, lottery_id)
        shown = await lottery.shown_lottery(uow, row)
    return LotteryPayload(lottery=Lottery.from_rows(*shown), replayed=replayed)


async def _create(uow, *, input: CreateLotteryInput, actor: str, reason: str | None):
    return await lottery.create_lottery(
        uow,
        name=input.name,
        cost_points=input.cost_points,
        daily_limit=input.daily_limit,
        prizes=_specs(input.prizes),
        actor=actor,
        reason=reason,
    )


async def _publish(uow, *, input: PublishLotteryOddsInput, actor: str, reason: str | None):
    return await odds.publish_odds(
        uow, lottery_id=input.lottery_id, prizes=_specs(input.prizes), actor=actor, reason=reason
    )


@strawberry.type
class LotteryMutation:
    @strawberry.mutation(
        permission_classes=[IsOps],
        description="Ops: a new lottery with its odds table as version 1; audited.",
    )
    async def create_lottery(self, info: Info, input: CreateLotteryInput) -> LotteryPayload:
        return await _change(info, "createLottery", input, partial(_create, input=input))

    @strawberry.mutation(
        permission_classes=[IsOps],
        description="Ops: change a lottery's name, cost, daily limit or open/closed; audited.",
    )
    async def update_lottery(self, info: Info, input: UpdateLotteryInput) -> LotteryPayload:
        update = partial(
            odds.update_lottery,
            lottery_id=input.lottery_id,
            name=input.name,
            cost_points=input.cost_points,
            daily_limit=input.daily_limit,
            active=input.active,
        )
        return await _change(info, "updateLottery", input, update)

    @strawberry.mutation(
        permission_classes=[IsOps],
        description="Ops: publish the lottery's next odds table (a new version; draws record"
        " the version they used); audited.",
    )
    async def publish_lottery_odds(
        self, info: Info, input: PublishLotteryOddsInput
    ) -> LotteryPayload:
        return await _change(info, "publishLotteryOdds", input, partial(_publish, input=input))
