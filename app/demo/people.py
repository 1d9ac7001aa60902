"""The demo members and their habits: names, phones, birthdays, home format, visit rates.

`make_people` draws every persona from one `random.Random`, so a seed gives the same people.
Member 0 is a showcase (phone 13800138000) with a year of history in every format; a few
"legacy" members joined about a year ago and went quiet, so their points expire around now.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from zoneinfo import ZoneInfo

WINDOW_DAYS = 180  # most members joined within this many days before now
SHOWCASE_PHONE = "13800138000"
# Local opening hours per unit: purchases fall in [open, close).
HOURS = {
    "CONVENIENCE": (7, 23),
    "MALL": (10, 22),
    "HOTEL": (11, 14),  # check-out
    "PROPERTY": (9, 20),
    "OFFICE": (8, 19),
    "TOURISM": (9, 18),
}
HOMES = {"MALL": 35, "CONVENIENCE": 20, "HOTEL": 14, "PROPERTY": 13, "OFFICE": 10, "TOURISM": 8}
# Visits a month: (range at the member's home unit, share of other members who come, range).
VISITS = {
    "CONVENIENCE": ((1.5, 5), 0.3, (0.3, 1.5)),
    "MALL": ((0.8, 2.5), 0.5, (0.2, 1)),
    "HOTEL": ((0.4, 1), 0.12, (0.15, 0.4)),
    "TOURISM": ((0.4, 1.2), 0.2, (0.1, 0.3)),
    "OFFICE": ((0.3, 1.2), 0.0, (0, 0)),  # meeting rooms; parking passes are monthly
}
ENGAGEMENT = [30, 45, 25]  # % of members who are dormant, casual, loyal (visit multipliers)
SURNAMES = [
    *"王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈",
    "欧阳",
]
GIVEN = (
    "伟 芳 娜 秀英 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 秀兰 霞 平 刚 桂英 子涵 浩然 梓萱 "
    "一诺 欣怡 宇轩 思远 雨桐 俊杰 嘉怡 晓东 建国 海燕 志强 婷婷 文博 佳琪 天宇 若曦 子轩 诗涵 "
    "博文 梦瑶 家豪 慧敏 晨阳"
).split()


@dataclass
class Persona:
    """One demo member and how they behave; `member_id` is set once registered."""

    phone: str
    name: str
    birthday: date | None
    home: str  # the unit they registered at
    joined: datetime
    visits: dict[str, float]  # unit -> chance of a visit on a given day
    redeem: float  # chance to pay part of an order with points
    legacy: bool = False
    quiet: tuple[date, date] | None = None  # no activity from the first date to the second
    external: dict[str, str] = field(default_factory=dict)  # unit -> the unit's customer id
    bill_day: int | None = None  # property management fee, day of month
    property_fee: Decimal = Decimal(0)
    parking_day: int | None = None  # office monthly parking pass, day of month
    parking_fee: Decimal = Decimal(0)
    referrer: int | None = None  # index of the persona whose code they registered with
    member_id: int | None = None
    referral_code: str | None = None
    known: set[str] = field(default_factory=set)  # units the member is linked to


def make_people(rng: random.Random, now: datetime, tz: ZoneInfo, count: int) -> list[Persona]:
    """`count` personas: the showcase, a few legacy members, the rest joined recently."""
    today = now.astimezone(tz).date()
    window = today - timedelta(days=WINDOW_DAYS)
    legacy = min(max(2, count * 8 // 100), max(count - 1, 0))
    phones: set[str] = {SHOWCASE_PHONE}
    ids = {"HOTEL": itertools.count(101), "OFFICE": itertools.count(2001), "rooms": set()}
    people: list[Persona] = []
    for index in range(count):
        if index == 0:
            joined_day, home = today - timedelta(days=385), "HOTEL"
        elif index <= legacy:  # spread so some lots have expired and some expire soon
            ago = 380 - round(35 * (index - 1) / max(legacy - 1, 1))
            joined_day, home = today - timedelta(days=ago), rng.choice(["MALL", "HOTEL"])
        else:
            early = rng.random() < 0.45  # the launch weeks
            offset = rng.randint(0, 13) if early else rng.randint(14, WINDOW_DAYS - 1)
            joined_day = window + timedelta(days=offset)
            home = rng.choices(list(HOMES), list(HOMES.values()))[0]
        start, end = HOURS[home]
        minute = rng.randrange(start * 60, (end - 1) * 60)
        p = Persona(
            phone=_phone(rng, phones),
            name=rng.choice(SURNAMES) + rng.choice(GIVEN),
            birthday=_birthday(rng, today),
            home=home,
            joined=datetime.combine(joined_day, clock(minute // 60, minute % 60), tzinfo=tz),
            visits=_visits(rng, home),
            redeem=rng.uniform(0.05, 0.4),
        )
        if 0 < index <= legacy:
            p.legacy, p.redeem = True, 0.0
            p.quiet = (
                joined_day + timedelta(days=20),
                window + timedelta(days=rng.randint(0, 150)),
            )
        _facilities(rng, p, ids, resident=index == 0)
        if index > legacy and joined_day > window + timedelta(days=14) and rng.random() < 0.15:
            earlier = [i for i, q in enumerate(people) if q.joined < p.joined - timedelta(days=1)]
            p.referrer = rng.choice(earlier) if earlier else None
        people.append(p)
    if people:
        showcase = people[0]
        showcase.phone, showcase.name, showcase.birthday = SHOWCASE_PHONE, "张伟", date(1988, 6, 20)
        showcase.redeem = 0.15
        showcase.visits = {"MALL": 2 / 30, "CONVENIENCE": 3 / 30, "HOTEL": 0.6 / 30}
        showcase.visits["TOURISM"] = 0.3 / 30
    return people


def _visits(rng: random.Random, home: str) -> dict[str, float]:
    """Daily visit chances; engagement varies as in any programme: many come rarely."""
    engagement = rng.choices([0.15, 0.6, 1.3], ENGAGEMENT)[0]
    visits: dict[str, float] = {}
    for unit, (own, share, other) in VISITS.items():
        if unit == home:
            visits[unit] = engagement * rng.uniform(*own) / 30
        elif rng.random() < share:
            visits[unit] = engagement * rng.uniform(*other) / 30
    return visits


def _facilities(rng: random.Random, p: Persona, ids: dict, resident: bool) -> None:
    """Property residence, office parking and the units' own customer ids."""
    p.external["HOTEL"] = f"H-{next(ids['HOTEL']) * 7 + rng.randint(0, 6):06d}"  # PMS guest id
    if p.home == "PROPERTY" or rng.random() < 0.15 or resident:
        room = ""
        while not room or room in ids["rooms"]:
            room = f"B{rng.randint(1, 6)}-{rng.randint(2, 32):02d}{rng.randint(1, 4):02d}"
        ids["rooms"].add(room)
        p.external["PROPERTY"], p.bill_day = room, rng.randint(1, 28)
        p.property_fee = Decimal(rng.randint(70, 180) * 35) / 10  # area x 3.5 CNY/m2
    if p.home == "OFFICE" or rng.random() < 0.08:
        p.external["OFFICE"] = f"T{next(ids['OFFICE']):05d}"  # tenant staff badge
        p.parking_day, p.parking_fee = rng.randint(1, 5), Decimal(rng.choice([500, 600, 800]))


def _phone(rng: random.Random, taken: set[str]) -> str:
    while True:
        phone = f"1{rng.choice('358')}{rng.randint(0, 9)}{rng.randint(0, 99_999_999):08d}"
        if phone not in taken:
            taken.add(phone)
            return phone


def _birthday(rng: random.Random, today: date) -> date | None:
    if rng.random() < 0.08:
        return None
    return today - timedelta(days=rng.randint(20 * 365, 65 * 365))
