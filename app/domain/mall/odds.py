"""Operators' changes to a lottery: its terms, and a new version of its odds table; audited.

- **Terms** (`update_lottery`): name, cost per draw, daily draw limit, open or closed. Draws
  already made keep what they cost.
- **A new odds table** (`publish_odds`): the whole table, as a member will read it, checked as
  a whole as at creation (app.domain.mall.lottery.check_prizes: one fallback, chances adding up
  to at most 1,000,000 ppm, rights that exist, stock and budget not negative). A prize the
  table keeps is named by its id and keeps what it gives (its right or its points: a draw record
  points at the prize, so what a prize gave must not change under it; give something else as a
  new prize); its name, chance, stock and budget are restated (a restock is a new table).
  Prizes the table leaves out are retired: no longer drawn or shown, kept for the draws that
  gave them. The table gets the next version; earlier versions stay as published, and every
  draw records the version it used.
- The lottery's row is locked FOR UPDATE for either change; draws hold it FOR KEY SHARE, so a
  new table takes effect between draws, never during one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.domain.mall.lottery import (
    PrizeSpec,
    check_prizes,
    check_terms,
    get_lottery,
    prizes_of,
    published_odds,
)
from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.operator_log import log_operator_action, operator_reason
from app.models import Lottery, LotteryOdds, LotteryPrize
from app.platform.uow import UnitOfWork


def _bad(message: str, field: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, message, field)


def _terms(lottery: Lottery) -> dict[str, Any]:
    return {
        "name": lottery.name,
        "costPoints": lottery.cost_points,
        "dailyLimit": lottery.daily_limit,
        "active": lottery.active,
    }


async def update_lottery(
    uow: UnitOfWork,
    *,
    lottery_id: int | str,
    actor: str,
    name: str | None = None,
    cost_points: int | None = None,
    daily_limit: int | None = None,
    active: bool | None = None,
    reason: str | None = None,
) -> Lottery:
    """Change the lottery's terms (those given); logged with before and after."""
    text = operator_reason(reason)
    lottery = await get_lottery(uow, lottery_id, lock="update")
    before = _terms(lottery)
    if name is not None:
        if not 1 <= len(name.strip()) <= 80:
            raise _bad("name must be 1-80 characters", "name")
        lottery.name = name.strip()
    check_terms(
        lottery.cost_points if cost_points is None else cost_points,
        lottery.daily_limit if daily_limit is None else daily_limit,
    )
    if cost_points is not None:
        lottery.cost_points = cost_points
    if daily_limit is not None:
        lottery.daily_limit = daily_limit
    if active is not None:
        lottery.active = active
    await uow.session.flush()
    await log_operator_action(
        uow,
        actor=actor,
        action="lottery.update",
        target_kind="lottery",
        target_id=lottery.id or 0,
        reason=text,
        detail={"before": before, "after": _terms(lottery)},
    )
    return lottery


async def publish_odds(
    uow: UnitOfWork,
    *,
    lottery_id: int | str,
    prizes: Sequence[PrizeSpec],
    actor: str,
    reason: str | None = None,
) -> Lottery:
    """Publish `prizes` as the lottery's next odds table (see the module's docstring)."""
    text = operator_reason(reason)
    lottery = await get_lottery(uow, lottery_id, lock="update")
    assert lottery.id is not None
    await check_prizes(uow, prizes)
    current = {prize.id: prize for prize in await prizes_of(uow, lottery.id, lock=True)}
    kept = [spec.prize_id for spec in prizes if spec.prize_id is not None]
    if len(set(kept)) != len(kept):
        raise _bad("a prize is named twice", "prizes")
    for spec in prizes:
        if spec.prize_id is None:
            continue
        prize = current.get(spec.prize_id)
        if prize is None:
            raise DomainError(
                ErrorCode.NOT_FOUND, f"no prize {spec.prize_id} in this lottery", "prizes"
            )
        if (prize.right_id, prize.points) != (spec.right_id, spec.points):
            raise _bad(
                f"prize {prize.id} keeps what it gives; publish a new prize to give another",
                "prizes",
            )
    before = published_odds(list(current.values()))
    for prize in current.values():
        if prize.id not in kept:
            prize.retired = True
    for position, spec in enumerate(prizes):
        terms = {
            "position": position,
            "name": spec.name.strip(),
            "chance_ppm": 0 if spec.fallback else spec.chance_ppm,
            "stock_remaining": spec.stock,
            "budget_points": spec.budget_points,
            "fallback": spec.fallback,
        }
        if spec.prize_id is None:
            uow.session.add(
                LotteryPrize(
                    lottery_id=lottery.id, right_id=spec.right_id, points=spec.points, **terms
                )
            )
        else:
            for key, value in terms.items():
                setattr(current[spec.prize_id], key, value)
    await uow.session.flush()
    table = published_odds(await prizes_of(uow, lottery.id))
    lottery.odds_version += 1
    uow.session.add(
        LotteryOdds(
            lottery_id=lottery.id, version=lottery.odds_version, odds=table, published_at=uow.now
        )
    )
    await uow.session.flush()
    await log_operator_action(
        uow,
        actor=actor,
        action="lottery.publishOdds",
        target_kind="lottery",
        target_id=lottery.id,
        reason=text,
        detail={"version": lottery.odds_version, "before": before, "odds": table},
    )
    return lottery
