"""Members: phone normalisation, registration, referrals, and each unit's customer ids."""

from datetime import date

import pytest
from sqlalchemy import func, select

from app.domain.members.identity import (
    link_member,
    mask_phone,
    member_by_external_id,
    normalise_phone,
    register_member,
    unit_knows_member,
)
from app.domain.shared.errors import ErrorCode
from app.models import Member, MemberBalance, MemberUnitLink
from tests.helpers import assert_clean, new_member, raises_code


@pytest.mark.parametrize(
    "raw",
    [
        "13912345678",
        "+86 139 1234 5678",
        "+86-139-1234-5678",
        "0086 13912345678",
        " 139-1234-5678 ",
        "(139) 1234 5678",
        "+8613912345678",
    ],
)
def test_phone_normalisation(raw):
    assert normalise_phone(raw) == "13912345678"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "1391234567",  # 10 digits
        "139123456789",  # 12 digits
        "12912345678",  # no such mobile prefix
        "23912345678",
        "+1 202 555 0100",
        "+85 13912345678",
        "1391234567a",
        "139.1234.5678",
        "+86 +86 13912345678",
    ],
)
def test_malformed_phone_is_invalid_input(raw):
    with raises_code(ErrorCode.INVALID_INPUT, field="phone"):
        normalise_phone(raw)


def test_mask_phone_hides_the_middle():
    assert mask_phone("13912345678") == "139****5678"
    assert mask_phone("123") == "****"


async def test_register_creates_balance_and_registration_link(units, uow_factory, clock):
    async with uow_factory() as uow:
        member = await register_member(
            uow,
            phone="+86 139-1234-5678",
            display_name="  Li Na ",
            business_unit="hotel",
            birthday=date(1990, 5, 17),
        )
    async with uow_factory() as uow:
        stored = await uow.session.get(Member, member.id)
        balance = await uow.session.get(MemberBalance, member.id)
        link = await uow.session.get(MemberUnitLink, (units["HOTEL"], member.id))
        assert await unit_knows_member(uow, unit_id=units["HOTEL"], member_id=member.id)
        assert not await unit_knows_member(uow, unit_id=units["MALL"], member_id=member.id)
    assert stored.phone == "13912345678"
    assert stored.display_name == "Li Na"
    assert stored.birthday == date(1990, 5, 17)
    assert stored.registered_at == clock.now
    assert stored.registered_via_unit_id == units["HOTEL"]
    assert stored.referred_by_id is None
    assert len(stored.referral_code) == 8
    assert (balance.available, balance.pending, balance.debt) == (0, 0, 0)
    assert (link.linked_via, link.external_id) == ("REGISTRATION", None)
    await assert_clean(uow_factory)


async def test_duplicate_phone_in_any_spelling(units, uow_factory):
    async with uow_factory() as uow:
        await register_member(uow, phone="13912345678", display_name="A", business_unit="MALL")
    with raises_code(ErrorCode.DUPLICATE, field="phone"):
        async with uow_factory() as uow:
            await register_member(
                uow, phone="+86 139 1234 5678", display_name="B", business_unit="HOTEL"
            )
    async with uow_factory() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Member)) == 1
        assert await uow.session.scalar(select(func.count()).select_from(MemberBalance)) == 1
    await assert_clean(uow_factory)


@pytest.mark.parametrize(
    ("kwargs", "code", "field"),
    [
        ({"phone": "12345"}, ErrorCode.INVALID_INPUT, "phone"),
        ({"display_name": "  "}, ErrorCode.INVALID_INPUT, "displayName"),
        ({"display_name": "x" * 61}, ErrorCode.INVALID_INPUT, "displayName"),
        ({"birthday": date(2026, 6, 16)}, ErrorCode.INVALID_INPUT, "birthday"),
        ({"business_unit": "CASINO"}, ErrorCode.NOT_FOUND, "businessUnitId"),
        ({"referral_code": "NOPE2345"}, ErrorCode.NOT_FOUND, "referralCode"),
        ({"external_id": "  "}, ErrorCode.INVALID_INPUT, "externalId"),
        ({"external_id": "x" * 65}, ErrorCode.INVALID_INPUT, "externalId"),
    ],
)
async def test_registration_refusals(units, uow_factory, kwargs, code, field):
    args = {"phone": "13912345678", "display_name": "Li Na", "business_unit": "MALL"} | kwargs
    with raises_code(code, field=field):
        async with uow_factory() as uow:
            await register_member(uow, **args)
    async with uow_factory() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Member)) == 0
    await assert_clean(uow_factory)


async def test_birthday_today_in_shanghai_is_accepted(units, uow_factory):
    async with uow_factory() as uow:  # NOW is 2026-06-15 noon in Shanghai
        member = await register_member(
            uow,
            phone="13912345678",
            display_name="Newborn",
            business_unit="MALL",
            birthday=date(2026, 6, 15),
        )
    assert member.birthday == date(2026, 6, 15)
    await assert_clean(uow_factory)


async def test_referral_code_links_the_referrer(units, uow_factory):
    async with uow_factory() as uow:
        referrer = await register_member(
            uow, phone="13912345678", display_name="Referrer", business_unit="MALL"
        )
    async with uow_factory() as uow:
        referred = await register_member(
            uow,
            phone="13812345678",
            display_name="Friend",
            business_unit="HOTEL",
            referral_code=f" {referrer.referral_code.lower()} ",
        )
    assert referred.referred_by_id == referrer.id
    assert referred.referral_code != referrer.referral_code
    await assert_clean(uow_factory)


async def test_external_ids_are_unique_per_unit(units, uow_factory):
    async with uow_factory() as uow:
        first = await new_member(uow, "HOTEL", external_id=" PMS-001 ")
    async with uow_factory() as uow:
        found = await member_by_external_id(uow, unit_id=units["HOTEL"], external_id="PMS-001")
    assert found.id == first
    with raises_code(ErrorCode.DUPLICATE, field="externalId"):
        async with uow_factory() as uow:
            await new_member(uow, "HOTEL", external_id="PMS-001")
    async with uow_factory() as uow:  # the same id at another unit is another customer
        other = await new_member(uow, "MALL", external_id="PMS-001")
    async with uow_factory() as uow:
        assert (
            await member_by_external_id(uow, unit_id=units["MALL"], external_id="PMS-001")
        ).id == other
        assert (
            await member_by_external_id(uow, unit_id=units["HOTEL"], external_id="PMS-001")
        ).id == first
        with raises_code(ErrorCode.NOT_FOUND, field="externalId"):
            await member_by_external_id(uow, unit_id=units["OFFICE"], external_id="PMS-001")
    with raises_code(ErrorCode.DUPLICATE, field="externalId"):
        async with uow_factory() as uow:  # a link never takes another member's id
            await link_member(
                uow, member_id=other, unit_id=units["HOTEL"], via="SCAN", external_id="PMS-001"
            )
    async with uow_factory() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Member)) == 2
    await assert_clean(uow_factory)


async def test_linking_is_idempotent_and_keeps_the_first_way(units, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow, "MALL")
    for _ in range(2):
        async with uow_factory() as uow:
            await link_member(uow, member_id=member, unit_id=units["HOTEL"], via="SCAN")
    async with uow_factory() as uow:
        await link_member(
            uow, member_id=member, unit_id=units["HOTEL"], via="CUSTOMER_ID", external_id="G-9"
        )
    async with uow_factory() as uow:
        links = list(
            await uow.session.scalars(
                select(MemberUnitLink).where(MemberUnitLink.member_id == member)
            )
        )
        found = await member_by_external_id(uow, unit_id=units["HOTEL"], external_id="G-9")
    by_unit = {link.business_unit_id: link for link in links}
    assert set(by_unit) == {units["MALL"], units["HOTEL"]}
    assert by_unit[units["HOTEL"]].linked_via == "SCAN"
    assert by_unit[units["HOTEL"]].external_id == "G-9"
    assert found.id == member
    await assert_clean(uow_factory)
