"""The demo group's points mall: sixteen items from five suppliers across the three kinds
(gifts shipped, vouchers, packages of rights), some for points + cash, a GOLD zone, and a
flash sale opening at 20:00 (group time) on the next evening to come; a daily lucky draw at 10
points (five a day) with rights and points among its prizes."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from app.domain.mall.catalogue import MallItemSpec, create_item
from app.domain.mall.lottery import PrizeSpec, create_lottery
from app.domain.rights.catalogue import RightSpec, create_right
from app.platform.uow import UnitOfWork

ACTOR = "seed:demo"

# Rights only the mall issues (no points price of their own): code -> terms.
MALL_RIGHTS = (
    RightSpec("CONVENIENCE", "20 CNY store voucher", "VOUCHER", 30, code="STORE-20-MALL",
              face_value="20.00", provider_cost="20.00"),
    RightSpec("CONVENIENCE", "Free coffee", "VOUCHER", 30, code="STORE-COFFEE",
              face_value="12.00", provider_cost="4.00"),
    RightSpec("HOTEL", "Breakfast for two", "SERVICE", 90, code="HOTEL-BREAKFAST",
              face_value="176.00", provider_cost="70.00"),
    RightSpec("HOTEL", "Late checkout", "SERVICE", 90, code="HOTEL-LATE-CHECKOUT",
              face_value="100.00", provider_cost="20.00"),
    RightSpec("TOURISM", "Boat tour ticket", "TICKET", 120, code="TOURISM-BOAT",
              face_value="120.00", provider_cost="40.00"),
    RightSpec("TOURISM", "Fast-track entry", "TICKET", 120, code="TOURISM-FAST-TRACK",
              face_value="60.00", provider_cost="10.00"),
    RightSpec("MALL", "Cinema ticket", "TICKET", 60, code="MALL-CINEMA",
              face_value="60.00", provider_cost="35.00"),
)  # fmt: skip


def _flash_start(now: datetime, uow: UnitOfWork) -> datetime:
    """The next 20:00 in the group's time zone after `now`."""
    local = now.astimezone(uow.tz)
    start = datetime.combine(local.date(), time(20, 0), tzinfo=uow.tz)
    return start if start > local else start + timedelta(days=1)


async def seed_demo_mall(uow: UnitOfWork) -> int:
    """The demo shelf, audited as an operator's additions would be; how many items."""
    rights = {}
    for spec in MALL_RIGHTS:
        right = await create_right(uow, spec=spec, actor=ACTOR, reason="demo mall")
        rights[right.code] = right.id
    flash = _flash_start(uow.now, uow)
    items = (
        MallItemSpec("Bone china tea set", "PHYSICAL", "MALL", 6000, stock=40, per_member_limit=1,
                     description="Six cups and a pot, shipped by the mall."),
        MallItemSpec("Travel umbrella", "PHYSICAL", "MALL", 1200, cash_price="9.90", stock=300),
        MallItemSpec("Bluetooth speaker", "PHYSICAL", "MALL", 8000, cash_price="49.00", stock=60,
                     per_member_limit=1),
        MallItemSpec("Hotel bathrobe", "PHYSICAL", "HOTEL", 5000, stock=80, per_member_limit=2),
        MallItemSpec("Aroma candle set", "PHYSICAL", "HOTEL", 2500, cash_price="19.90"),
        MallItemSpec("Instant noodle box", "PHYSICAL", "CONVENIENCE", 900, stock=500),
        MallItemSpec("Museum art print", "PHYSICAL", "TOURISM", 3000, cash_price="29.00",
                     stock=100),
        MallItemSpec("20 CNY store voucher", "VOUCHER", "CONVENIENCE", 1800,
                     right_ids=(rights["STORE-20-MALL"],), per_member_limit=5),
        MallItemSpec("Free coffee", "VOUCHER", "CONVENIENCE", 600,
                     right_ids=(rights["STORE-COFFEE"],)),
        MallItemSpec("Cinema ticket", "VOUCHER", "MALL", 2400, cash_price="10.00",
                     right_ids=(rights["MALL-CINEMA"],), stock=200),
        MallItemSpec("Boat tour ticket", "VOUCHER", "TOURISM", 4000,
                     right_ids=(rights["TOURISM-BOAT"],), stock=150, per_member_limit=2),
        MallItemSpec("Weekend stay package", "RIGHT_PACKAGE", "HOTEL", 12000, cash_price="99.00",
                     right_ids=(rights["HOTEL-BREAKFAST"], rights["HOTEL-LATE-CHECKOUT"]),
                     stock=30, per_member_limit=1),
        MallItemSpec("Day out package", "RIGHT_PACKAGE", "TOURISM", 5000,
                     right_ids=(rights["TOURISM-BOAT"], rights["TOURISM-FAST-TRACK"]), stock=80),
        # The GOLD zone: GOLD members and above.
        MallItemSpec("Gold members' breakfast", "VOUCHER", "HOTEL", 1500,
                     right_ids=(rights["HOTEL-BREAKFAST"],), tier_only_code="GOLD",
                     per_member_limit=2),
        MallItemSpec("Gold members' silk scarf", "PHYSICAL", "MALL", 9000, stock=20,
                     tier_only_code="GOLD", per_member_limit=1),
        # Tonight's flash sale (积分秒杀): 100 at 20:00, one per member.
        MallItemSpec("Flash sale: wireless earbuds", "PHYSICAL", "MALL", 2000, stock=100,
                     per_member_limit=1, sale_starts_at=flash,
                     sale_ends_at=flash + timedelta(hours=2), flash_sale=True,
                     description="100 pairs at 20:00, one per member."),
    )  # fmt: skip
    for terms in items:
        await create_item(uow, spec=terms, actor=ACTOR, reason="demo mall")
    await create_lottery(
        uow,
        name="Daily lucky draw",
        cost_points=10,
        daily_limit=5,
        prizes=[
            PrizeSpec("Cinema ticket", chance_ppm=10_000, right_id=rights["MALL-CINEMA"], stock=20),
            PrizeSpec("Free coffee", chance_ppm=50_000, right_id=rights["STORE-COFFEE"], stock=200),
            PrizeSpec("50 points", chance_ppm=100_000, points=50, budget_points=50_000),
            PrizeSpec("10 points", chance_ppm=200_000, points=10, budget_points=100_000),
            PrizeSpec("Thank you, try again tomorrow", fallback=True),
        ],
        actor=ACTOR,
    )
    return len(items)
