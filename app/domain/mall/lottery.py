"""The points lottery (积分抽奖): a draw costs points, prizes come with published odds, every
draw is recorded so it can be audited.

- A lottery has a cost in points per draw, a per-member daily draw limit (group calendar day:
  LIMIT_REACHED beyond it) and an odds table: each prize's chance in parts per million, in
  order; one prize is the **fallback**, whose chance is what the others leave (and which is
  what a draw gives when the prize it rolled has run out of stock or of budget). The table is
  versioned: each published version is kept (`lottery_odds`) and every draw records the version
  it used, its roll and the prize rolled and given, so anyone can replay a draw against the
  odds it was drawn under.
- The roll comes from `secrets.randbelow(1_000_000)`: unpredictable to anyone, including
  operators; tests inject a seeded source.
- Operators create a lottery, edit its terms, and publish a new odds table (app.domain.mall.odds):
  each publication is a new version; the lottery's row is locked FOR UPDATE while it is
  published and every draw holds it FOR KEY SHARE (the lock its draw row's foreign key takes
  anyway), so a draw uses one version from its roll to its prize and records that one.
- A draw, in one transaction under the member's balance lock: the cost is redeemed through the
  ledger (earliest-expiring lots, the group on the REDEEMED side: a LOTTERY_DRAW entry), then
  the prize: a right issued to the wallet (its stock taken from the prize), or points credited
  in a lot funded by the group's marketing budget (a LOTTERY_PRIZE entry; the prize's
  `budget_points` shrinks by as many), or nothing. A prize's row is locked while its stock or
  budget is taken, so two draws never give the last unit twice; a prize that cannot run out
  (the fallback) is not locked, so its draws never queue on one another.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, tuple_

from app.domain.ledger.accounts import GROUP, Account, LotState, TxKind
from app.domain.ledger.expiry import expiry_for
from app.domain.ledger.redemption import redeem
from app.domain.ledger.writer import lock_member, post
from app.domain.rights.wallet import RightSource, issue_right
from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.operator_log import log_operator_action
from app.domain.shared.units import find_unit, read_program
from app.models import (
    Lottery,
    LotteryDraw,
    LotteryOdds,
    LotteryPrize,
    Member,
    MemberRight,
    PointsLot,
    PointsTransaction,
    Right,
)
from app.platform.uow import UnitOfWork

MILLION = 1_000_000
Roll = Callable[[int], int]  # n -> a roll in [0, n)


@dataclass(frozen=True)
class PrizeSpec:
    """A prize as an operator states it: a right, points, or nothing (a fallback only).
    `prize_id`: a prize of the lottery a new odds table keeps (None: a new prize)."""

    name: str
    chance_ppm: int = 0
    right_id: int | None = None
    points: int = 0
    stock: int | None = None
    budget_points: int | None = None
    fallback: bool = False
    prize_id: int | None = None


@dataclass(frozen=True)
class DrawResult:
    draw: LotteryDraw
    prize: LotteryPrize | None


def _bad(message: str, field: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, message, field)


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


async def check_prizes(uow: UnitOfWork, prizes: Sequence[PrizeSpec]) -> None:
    """An odds table as a whole: 1-20 prizes, exactly one fallback (chance 0: it gets what the
    others leave; no stock or budget: it never runs out), the others' chances 0-1,000,000 ppm
    adding up to at most 1,000,000, each giving a right (an active one) or points, stock and
    budget whole and not negative (INVALID_INPUT; NOT_FOUND for a right that is not there)."""
    if not 1 <= len(prizes) <= 20:
        raise _bad("a lottery has 1-20 prizes", "prizes")
    if sum(prize.fallback for prize in prizes) != 1:
        raise _bad("exactly one prize is the fallback", "prizes")
    for prize in prizes:
        label = f"prize {prize.name.strip()[:80]!r}"
        if not 1 <= len(prize.name.strip()) <= 80:
            raise _bad("a prize's name is 1-80 characters", "prizes")
        if not _whole(prize.chance_ppm) or not 0 <= prize.chance_ppm <= MILLION:
            raise _bad(f"{label}: chance is 0-1,000,000 ppm", "prizes")
        if not _whole(prize.points) or not 0 <= prize.points <= 1_000_000:
            raise _bad(f"{label}: points are 0-1,000,000", "prizes")
        for amount in (prize.stock, prize.budget_points):
            if amount is not None and (not _whole(amount) or not 0 <= amount <= 100_000_000):
                raise _bad(f"{label}: stock and budget are 0-100,000,000 (null: none)", "prizes")
        if prize.right_id is not None and prize.points:
            raise _bad(f"{label} gives a right or points, not both", "prizes")
        if prize.fallback:
            if prize.stock is not None or prize.budget_points is not None:
                raise _bad("the fallback has no stock and no budget: it never runs out", "prizes")
            if prize.chance_ppm:
                raise _bad("the fallback's chance is what the others leave: give 0", "prizes")
        elif prize.right_id is None and not prize.points:
            raise _bad(f"{label} gives nothing: only the fallback may", "prizes")
        if prize.budget_points is not None and prize.right_id is not None:
            raise _bad(f"{label}: a budget is for points prizes (a right has stock)", "prizes")
    if sum(prize.chance_ppm for prize in prizes) > MILLION:
        raise _bad("the chances add up to more than 1,000,000 ppm", "prizes")
    for prize in prizes:
        if prize.right_id is None:
            continue
        right = await uow.session.get(Right, prize.right_id)
        if right is None or not right.active:
            raise DomainError(ErrorCode.NOT_FOUND, f"no right {prize.right_id}", "prizes")


async def create_lottery(
    uow: UnitOfWork,
    *,
    name: str,
    cost_points: int,
    daily_limit: int,
    prizes: Sequence[PrizeSpec],
    actor: str,
    reason: str | None = None,
) -> Lottery:
    """A lottery with its odds table as version 1; audited."""
    if not 1 <= len(name.strip()) <= 80:
        raise _bad("name must be 1-80 characters", "name")
    check_terms(cost_points, daily_limit)
    await check_prizes(uow, prizes)
    lottery = Lottery(
        name=name.strip(), cost_points=cost_points, daily_limit=daily_limit, created_at=uow.now
    )
    uow.session.add(lottery)
    await uow.session.flush()
    assert lottery.id is not None
    if any(spec.prize_id is not None for spec in prizes):
        raise DomainError(ErrorCode.NOT_FOUND, "a new lottery has no prizes to keep", "prizes")
    for position, spec in enumerate(prizes):
        uow.session.add(
            LotteryPrize(
                lottery_id=lottery.id,
                position=position,
                name=spec.name.strip(),
                chance_ppm=0 if spec.fallback else spec.chance_ppm,
                right_id=spec.right_id,
                points=spec.points,
                stock_remaining=spec.stock,
                budget_points=spec.budget_points,
                fallback=spec.fallback,
            )
        )
    await uow.session.flush()
    table = published_odds(await prizes_of(uow, lottery.id))
    uow.session.add(LotteryOdds(lottery_id=lottery.id, version=1, odds=table, published_at=uow.now))
    await log_operator_action(
        uow,
        actor=actor,
        action="lottery.create",
        target_kind="lottery",
        target_id=lottery.id,
        reason=(reason or "").strip()[:200] or None,
        detail={"name": lottery.name, "costPoints": cost_points, "odds": table},
    )
    return lottery


def check_terms(cost_points: int, daily_limit: int) -> None:
    """A draw costs 1-100,000 points; a member draws 1-1,000 times a day."""
    if not _whole(cost_points) or not 1 <= cost_points <= 100_000:
        raise _bad("a draw costs 1-100,000 points", "costPoints")
    if not _whole(daily_limit) or not 1 <= daily_limit <= 1000:
        raise _bad("a member draws 1-1,000 times a day", "dailyLimit")


async def prizes_of(
    uow: UnitOfWork, lottery_id: int, *, lock: bool = False, only: int | None = None
) -> list[LotteryPrize]:
    """The lottery's prizes in its current odds table (not those a newer table retired)."""
    query = (
        select(LotteryPrize)
        .where(LotteryPrize.lottery_id == lottery_id, ~LotteryPrize.retired)  # type: ignore[arg-type]
        .order_by(LotteryPrize.position)  # type: ignore[arg-type]
        .execution_options(populate_existing=True)
    )
    if only is not None:
        query = query.where(LotteryPrize.id == only)
    if lock:
        query = query.with_for_update()
    return list(await uow.session.scalars(query))


def published_odds(prizes: Sequence[LotteryPrize]) -> list[dict]:
    """The odds table as published: each prize's chance in ppm, the fallback's the rest."""
    rest = MILLION - sum(prize.chance_ppm for prize in prizes if not prize.fallback)
    return [
        {
            "prizeId": prize.id,
            "name": prize.name,
            "chancePpm": rest if prize.fallback else prize.chance_ppm,
            "fallback": prize.fallback,
        }
        for prize in prizes
    ]


def pick(odds: Sequence[dict], roll: int) -> int:
    """The prize id a roll in [0, 1,000,000) lands on: the prizes' ranges in table order."""
    edge = 0
    for row in odds:
        edge += row["chancePpm"]
        if roll < edge:
            return int(row["prizeId"])
    return int(next(row["prizeId"] for row in odds if row["fallback"]))


async def get_lottery(
    uow: UnitOfWork, lottery_id: int | str, *, lock: str | None = None
) -> Lottery:
    """The lottery, or NOT_FOUND; `lock`: "share" (a draw: FOR KEY SHARE) or "update" (an
    operator's change: FOR UPDATE), held until the transaction ends."""
    text = str(lottery_id).strip()
    known = text.isascii() and text.isdigit() and len(text) < 19
    lottery = None
    if known:
        query = select(Lottery).where(Lottery.id == int(text))
        if lock is not None:
            query = query.with_for_update(key_share=lock == "share")
        found = await uow.session.scalars(query.execution_options(populate_existing=True))
        lottery = found.first()
    if lottery is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no lottery {text!r}", "lotteryId")
    return lottery


async def draw(
    uow: UnitOfWork,
    *,
    lottery_id: int | str,
    member_id: int | str,
    caller: str,
    caller_ref: str | None = None,
    roll: Roll = secrets.randbelow,
) -> DrawResult:
    """One draw for the member (see the module's docstring)."""
    member, balance = await lock_member(uow, member_id)
    assert member.id is not None
    lottery = await get_lottery(uow, lottery_id, lock="share")  # one odds version throughout
    assert lottery.id is not None
    if not lottery.active:
        raise DomainError(ErrorCode.NOT_ON_SALE, f"{lottery.name} is closed", "lotteryId")
    today = uow.local_date()
    drawn = await uow.session.scalar(
        select(func.count()).where(
            LotteryDraw.member_id == member.id,
            LotteryDraw.lottery_id == lottery.id,
            LotteryDraw.local_day == today,
        )
    )
    if int(drawn or 0) >= lottery.daily_limit:
        raise DomainError(
            ErrorCode.LIMIT_REACHED, f"at most {lottery.daily_limit} draws a day", "lotteryId"
        )
    cost = PointsTransaction(
        member_id=member.id,
        kind=TxKind.LOTTERY_DRAW.value,
        source="LOTTERY",
        rule=f"lottery:{lottery.id}",
        points=-lottery.cost_points,
        caller=caller[:64],
        caller_ref=caller_ref,
        created_at=uow.now,
    )
    await redeem(uow, cost, balance, redeemer_unit_id=GROUP)
    odds = (await uow.session.get(LotteryOdds, (lottery.id, lottery.odds_version))).odds  # type: ignore[union-attr]
    rolled = roll(MILLION)
    if not 0 <= rolled < MILLION:
        raise AssertionError(f"a roll out of range: {rolled}")
    prizes = {prize.id: prize for prize in await prizes_of(uow, lottery.id)}
    wanted = prizes[pick(odds, rolled)]
    if wanted.stock_remaining is not None or wanted.budget_points is not None:
        # Only a prize that can run out is locked: draws of other prizes do not queue on it.
        wanted = (await prizes_of(uow, lottery.id, lock=True, only=wanted.id))[0]
    given = wanted if _available(wanted) else next(p for p in prizes.values() if p.fallback)
    record = LotteryDraw(
        lottery_id=lottery.id,
        member_id=member.id,
        odds_version=lottery.odds_version,
        roll=rolled,
        rolled_prize_id=wanted.id,
        prize_id=given.id,
        won=bool(given.right_id or given.points),
        cost_transaction_id=cost.id or 0,
        local_day=today,
        drawn_at=uow.now,
    )
    if given.stock_remaining is not None:
        given.stock_remaining -= 1
    if given.right_id is not None:
        right = await uow.session.get(Right, given.right_id)
        assert right is not None
        held = await issue_right(uow, member_id=member.id, right=right, source=RightSource.LOTTERY)
        record.member_right_id = held.id
    elif given.points:
        if given.budget_points is not None:
            given.budget_points -= given.points
        record.prize_transaction_id = await _credit(uow, member, given, lottery, balance)
    uow.session.add(record)
    await uow.session.flush()
    return DrawResult(record, given if record.won else None)


def _available(prize: LotteryPrize) -> bool:
    """Whether the prize can still be given: stock left, and budget for its points."""
    if prize.stock_remaining is not None and prize.stock_remaining < 1:
        return False
    return prize.budget_points is None or prize.budget_points >= prize.points


async def _credit(
    uow: UnitOfWork, member: Member, prize: LotteryPrize, lottery: Lottery, balance
) -> int:
    """The prize's points in a lot funded by the group's marketing budget."""
    assert member.id is not None
    program = await read_program(uow)
    unit = await find_unit(uow, member.registered_via_unit_id)
    tx = PointsTransaction(
        member_id=member.id,
        kind=TxKind.LOTTERY_PRIZE.value,
        source="LOTTERY",
        rule=f"lottery:{lottery.id}:prize:{prize.id}",
        business_unit_id=member.registered_via_unit_id,
        points=prize.points,
        caller="lottery",
        created_at=uow.now,
    )
    lot = PointsLot(
        member_id=member.id,
        transaction_id=0,  # the writer gives it the prize's id
        issuer_unit_id=member.registered_via_unit_id,
        funder_unit_id=None,  # the group's marketing budget
        cost_per_point=unit.cost_per_point,
        points=prize.points,
        remaining=prize.points,
        state=LotState.AVAILABLE.value,
        earned_at=uow.now,
        expires_at=expiry_for(program, uow.now, uow.tz),
    )
    legs = [
        (Account.MEMBER_AVAILABLE, member.id, prize.points),
        (Account.ISSUED, GROUP, -prize.points),
    ]
    await post(uow, tx, legs, [lot], balance)
    return tx.id or 0


Shown = tuple[Lottery, list[LotteryPrize], list[dict]]


async def shown_lottery(uow: UnitOfWork, lottery: Lottery) -> Shown:
    """The lottery with its current prizes and its current published odds."""
    assert lottery.id is not None
    odds = await uow.session.get(LotteryOdds, (lottery.id, lottery.odds_version))
    return lottery, await prizes_of(uow, lottery.id), odds.odds if odds else []


async def open_lotteries(uow: UnitOfWork) -> list[Shown]:
    """Active lotteries with their prizes and their current published odds, by id: three
    statements however many lotteries are open (the lotteries, then every one's current prizes
    and every one's current odds table, each in one batch), never a pair per lottery."""
    lotteries = list(
        await uow.session.scalars(
            select(Lottery).where(Lottery.active).order_by(Lottery.id)  # type: ignore[arg-type]
        )
    )
    if not lotteries:
        return []
    ids = [lottery.id for lottery in lotteries]
    prizes: dict[int, list[LotteryPrize]] = {lottery_id: [] for lottery_id in ids}  # type: ignore[misc]
    for prize in await uow.session.scalars(
        select(LotteryPrize)
        .where(LotteryPrize.lottery_id.in_(ids), ~LotteryPrize.retired)  # type: ignore[arg-type,attr-defined]
        .order_by(LotteryPrize.lottery_id, LotteryPrize.position)  # type: ignore[arg-type]
        .execution_options(populate_existing=True)
    ):
        prizes[prize.lottery_id].append(prize)
    current = [(lottery.id, lottery.odds_version) for lottery in lotteries]
    tables = {
        odds.lottery_id: odds.odds
        for odds in await uow.session.scalars(
            select(LotteryOdds).where(
                tuple_(LotteryOdds.lottery_id, LotteryOdds.version).in_(current)  # type: ignore[arg-type]
            )
        )
    }
    return [
        (lottery, prizes[lottery.id], tables.get(lottery.id, []))  # type: ignore[index,arg-type]
        for lottery in lotteries
    ]


async def shown_draw(
    uow: UnitOfWork, draw_id: int
) -> tuple[LotteryDraw, LotteryPrize | None, list[dict], tuple | None]:
    """A recorded draw, the prize it gave, the odds it used, the right it issued (and its
    catalogue entry), for showing it."""
    record = await uow.session.get(LotteryDraw, draw_id)
    assert record is not None
    prize = await uow.session.get(LotteryPrize, record.prize_id) if record.prize_id else None
    odds = await uow.session.get(LotteryOdds, (record.lottery_id, record.odds_version))
    held = None
    if record.member_right_id is not None:
        entry = await uow.session.get(MemberRight, record.member_right_id)
        assert entry is not None
        held = (entry, await uow.session.get(Right, entry.right_id))
    return record, prize, odds.odds if odds else [], held
