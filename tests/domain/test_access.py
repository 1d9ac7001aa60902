"""Who may act for which member, at which unit, with which scope (app.domain.access.acts)."""

from __future__ import annotations

import pytest

from app.domain.access.acts import ALL_UNITS, authorise, transactions_seen_at
from app.domain.access.principals import Principal
from app.domain.members.identity import link_member
from app.domain.shared.errors import DomainError, ErrorCode, PermissionDenied
from tests.helpers import new_member

OPS = Principal(kind="operator", subject="ops-1", roles=frozenset({"ops"}))
FINANCE = Principal(kind="operator", subject="fin-1", roles=frozenset({"finance"}))


@pytest.fixture
async def uow(uow_factory):
    """One transaction for the whole test."""
    async with uow_factory() as uow:
        yield uow


def partner(unit_id: int, *scopes: str) -> Principal:
    return Principal(
        kind="partner", subject=f"key-{unit_id}", unit_id=unit_id, scopes=frozenset(scopes)
    )


def member(member_id: int) -> Principal:
    return Principal(kind="member", subject=str(member_id), member_id=member_id)


async def test_a_member_acts_for_themself_only(units, uow):
    me, other = await new_member(uow, "MALL"), await new_member(uow, "MALL")
    assert await authorise(uow, member(me)) is None  # no member concerned
    assert await authorise(uow, member(me), member_id=None) == me  # naming nobody: themself
    assert await authorise(uow, member(me), member_id=str(me)) == me
    with pytest.raises(PermissionDenied):
        await authorise(uow, member(me), member_id=other)


async def test_a_partner_acts_at_its_unit_with_its_scope_for_presented_members(units, uow):
    hotel, mall = units["HOTEL"], units["MALL"]
    guest, shopper = await new_member(uow, "HOTEL"), await new_member(uow, "MALL")
    desk = partner(hotel, "earn")
    assert await authorise(uow, desk, member_id=guest, unit_id=hotel, scope="earn") == guest
    with pytest.raises(PermissionDenied, match="own business unit"):
        await authorise(uow, desk, member_id=guest, unit_id=mall, scope="earn")
    with pytest.raises(PermissionDenied, match="spend scope"):
        await authorise(uow, desk, member_id=guest, unit_id=hotel, scope="spend")
    with pytest.raises(PermissionDenied):  # registered at the mall, never presented here
        await authorise(uow, desk, member_id=shopper, unit_id=hotel, scope="earn")
    await link_member(uow, member_id=shopper, unit_id=hotel, via="CODE")  # scanned at the desk
    assert await authorise(uow, desk, member_id=shopper, unit_id=hotel) == shopper


async def test_a_partner_cannot_tell_an_unknown_member_from_a_hidden_one(units, uow):
    desk = partner(units["HOTEL"], "read")
    for unknown in (999_999, "abc", " "):
        with pytest.raises((PermissionDenied, DomainError)) as raised:
            await authorise(uow, desk, member_id=unknown)
        if isinstance(raised.value, DomainError):  # only a blank id is a mistake in the input
            assert raised.value.code == ErrorCode.INVALID_INPUT and unknown == " "


async def test_ops_act_for_anyone_and_learn_when_a_member_does_not_exist(units, uow):
    someone = await new_member(uow, "OFFICE")
    assert await authorise(uow, OPS, member_id=str(someone), unit_id=units["MALL"]) == someone
    with pytest.raises(DomainError) as raised:
        await authorise(uow, OPS, member_id=999_999)
    assert raised.value.code == ErrorCode.NOT_FOUND
    with pytest.raises(DomainError) as raised:
        await authorise(uow, OPS, member_id=None)
    assert raised.value.code == ErrorCode.INVALID_INPUT


async def test_finance_acts_for_no_member(units, uow):
    someone = await new_member(uow, "OFFICE")
    with pytest.raises(PermissionDenied):
        await authorise(uow, FINANCE, member_id=someone)
    assert await authorise(uow, FINANCE) is None  # acts that concern no member are the field's


def test_a_partner_sees_its_own_units_transactions_everyone_else_all():
    assert transactions_seen_at(partner(7, "read")) == 7
    assert transactions_seen_at(Principal(kind="partner", subject="k")) == -1  # no unit: none
    for principal in (OPS, member(3)):
        assert transactions_seen_at(principal) is ALL_UNITS
