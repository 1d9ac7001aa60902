"""The database-backed sources on real PostgreSQL, and the demo format data from the ledger."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select

from app.demo.format_data import seed_format_activity
from app.models import ConvenienceOrder, HotelStay, MallReceipt, ParkingSession, PropertyBill
from app.sources import DatabaseSource, FormatActivityKind, FormatUsage
from tests.conftest import NOW, TZ
from tests.helpers import earn, new_member


def stay(unit: int, member: int, ref: str, days_ago: float, amount: str) -> HotelStay:
    at = NOW - timedelta(days=days_ago)
    return HotelStay(
        business_unit_id=unit,
        member_id=member,
        external_ref=ref,
        check_in=at,
        check_out=at + timedelta(days=1),
        nights=1,
        room_type="DELUXE",
        amount=Decimal(amount),
    )


def parking(unit: int, member: int, ref: str, at, fee: str) -> ParkingSession:
    return ParkingSession(
        business_unit_id=unit,
        member_id=member,
        external_ref=ref,
        plate="沪A12345",
        entered_at=at,
        exited_at=at + timedelta(hours=2),
        minutes=120,
        fee=Decimal(fee),
    )


def receipt(unit: int, member: int, ref: str, at, amount: str) -> MallReceipt:
    return MallReceipt(
        business_unit_id=unit,
        member_id=member,
        external_ref=ref,
        merchant_code="M004",
        category="DINING",
        issued_at=at,
        amount=Decimal(amount),
    )


async def test_activity_pages_newest_first_per_member(units, sessions, uow_factory):
    async with uow_factory() as uow:
        alice, bob = await new_member(uow), await new_member(uow)
        for i in range(5):
            uow.session.add(stay(units["HOTEL"], alice, f"H-{i}", days_ago=10 - i, amount="500"))
        uow.session.add(stay(units["HOTEL"], bob, "H-b", days_ago=1, amount="300"))
    source = DatabaseSource(unit="HOTEL", format="HOTEL", sessions=sessions)

    page = await source.activity([alice, bob, 999], limit=2, before=None)
    assert [i.external_ref for i in page[alice]] == ["H-4", "H-3"]
    assert [i.external_ref for i in page[bob]] == ["H-b"] and page[999] == []
    item = page[alice][0]
    assert (item.kind, item.unit, item.amount) == (
        FormatActivityKind.STAY,
        "HOTEL",
        Decimal("500.00"),
    )
    assert item.detail["nights"] == 1 and item.ended_at == item.occurred_at + timedelta(days=1)
    assert item.description == "1 night, deluxe room"

    rest = await source.activity([alice], limit=10, before=page[alice][-1].cursor)
    assert [i.external_ref for i in rest[alice]] == ["H-2", "H-1", "H-0"]


async def test_mall_merges_parking_and_receipts_with_ties_in_a_total_order(
    units, sessions, uow_factory
):
    at = NOW - timedelta(days=2)
    async with uow_factory() as uow:
        member = await new_member(uow)
        mall = units["MALL"]
        uow.session.add(parking(mall, member, "P-1", at, "10.00"))  # same instant as
        uow.session.add(receipt(mall, member, "R-1", at, "88.00"))
        uow.session.add(receipt(mall, member, "R-2", at, "12.00"))
        uow.session.add(receipt(mall, member, "R-0", at - timedelta(hours=1), "5.00"))
    source = DatabaseSource(unit="MALL", format="MALL", sessions=sessions)

    everything = (await source.activity([member], limit=10, before=None))[member]
    order = [(i.kind.value, i.external_ref) for i in everything]
    assert order == [("RECEIPT", "R-2"), ("RECEIPT", "R-1"), ("PARKING", "P-1"), ("RECEIPT", "R-0")]
    seen, cursor = [], None
    while True:  # pages of one, across the tie: nothing lost, nothing twice
        page = (await source.activity([member], limit=1, before=cursor))[member]
        if not page:
            break
        seen.append((page[0].kind.value, page[0].external_ref))
        cursor = page[0].cursor
    assert seen == order


async def test_usage_sums_spend_and_counts_local_days(units, sessions, uow_factory):
    # NOW is 12:00 in Shanghai: 6 and 11 hours earlier are the same local day, 13 the day before.
    async with uow_factory() as uow:
        member, idle = await new_member(uow), await new_member(uow)
        mall = units["MALL"]
        uow.session.add(receipt(mall, member, "R-1", NOW - timedelta(hours=6), "100.10"))
        uow.session.add(parking(mall, member, "P-1", NOW - timedelta(hours=11), "20.00"))
        uow.session.add(receipt(mall, member, "R-2", NOW - timedelta(hours=13), "30.00"))
        uow.session.add(receipt(mall, member, "R-old", NOW - timedelta(days=400), "999.00"))
        uow.session.add(stay(units["HOTEL"], member, "H-1", days_ago=1, amount="700"))  # not MALL
    source = DatabaseSource(unit="MALL", format="MALL", sessions=sessions)

    usage = await source.usage([member, idle], since=NOW - timedelta(days=365), tz=TZ)
    assert usage[member] == FormatUsage(
        spend=Decimal("150.10"), visits=2, last_visit_at=NOW - timedelta(hours=6)
    )
    assert usage[idle] == FormatUsage()


async def test_demo_format_data_comes_from_the_ledger_once(units, sessions, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "880.00", unit="HOTEL", ref="H-100")
        for i in range(4):
            await earn(uow, member, "50.00", unit="MALL", ref=f"M-{i}")
        await earn(uow, member, "320.00", unit="PROPERTY", ref="B-1")
        await earn(uow, member, "23.50", unit="CONVENIENCE", ref="C-1")
        await earn(uow, member, "60.00", unit="TOURISM", ref="T-1")  # no format tables
    async with uow_factory() as uow:
        added = await seed_format_activity(uow)
    assert added == {"HOTEL": 1, "MALL": 4, "PARKING": 2, "PROPERTY": 1, "CONVENIENCE": 1}
    async with uow_factory() as uow:
        assert await seed_format_activity(uow) == {name: 0 for name in added}
        bill = (await uow.session.scalars(select(PropertyBill))).one()
        assert bill.period == "2026-06" and bill.amount == Decimal("320.00")
        assert await uow.session.scalar(select(func.count()).select_from(ConvenienceOrder)) == 1
    since = NOW - timedelta(days=365)
    hotel = DatabaseSource(unit="HOTEL", format="HOTEL", sessions=sessions)
    assert (await hotel.usage([member], since=since, tz=TZ))[member].spend == Decimal("880.00")
    mall = DatabaseSource(unit="MALL", format="MALL", sessions=sessions)
    mall_usage = (await mall.usage([member], since=since, tz=TZ))[member]
    items = (await mall.activity([member], limit=20, before=None))[member]
    fees = sum(i.amount for i in items if i.kind is FormatActivityKind.PARKING)
    assert len(items) == 6 and {i.detail["minutes"] for i in items if "minutes" in i.detail}
    assert mall_usage.spend == Decimal("200.00") + fees and mall_usage.visits == 1
