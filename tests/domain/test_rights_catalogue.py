"""The catalogue of rights (app.domain.rights.catalogue): terms validated as a whole, a code of
its own, every change in the audit trail, nothing written for a refusal."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.domain.rights.catalogue import RightSpec, create_right, list_rights, update_right
from app.domain.shared.errors import ErrorCode
from app.models import OperatorAction, Right
from tests.helpers import raises_code

LOUNGE = RightSpec(
    business_unit="HOTEL",
    name="Executive lounge pass",
    kind="LOUNGE_PASS",
    valid_days=90,
    points_price=3000,
    stock=50,
    per_member_limit=2,
    limit_period="YEAR",
    face_value="198.00",
    provider_cost="60.00",
    eligible_tier_codes=("gold", "DIAMOND"),
    redeemable_at_unit_ids=("TOURISM", "HOTEL"),
)


async def test_a_right_is_created_with_its_terms_and_audited(units, uow_factory):
    async with uow_factory() as uow:
        right = await create_right(uow, spec=LOUNGE, actor="ops:anna", reason="winter offer")
    async with uow_factory() as uow:
        stored = await uow.session.get(Right, right.id)
        actions = list(await uow.session.scalars(select(OperatorAction)))
    assert stored.code == "HOTEL-EXECUTIVE-LOUNGE-PASS"
    assert stored.provider_unit_id == units["HOTEL"] and stored.kind == "LOUNGE_PASS"
    assert (stored.face_value, stored.provider_cost) == (Decimal("198.00"), Decimal("60.00"))
    assert stored.eligible_tiers == ["DIAMOND", "GOLD"]
    assert stored.redeemable_unit_ids == [units["TOURISM"]]  # the provider is implied
    assert (stored.stock_remaining, stored.per_member_limit, stored.limit_period) == (50, 2, "YEAR")
    assert [(a.action, a.reason, a.detail["before"]) for a in actions] == [
        ("right.create", "winter offer", None)
    ]


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"name": " "}, ErrorCode.INVALID_INPUT, "name"),
        ({"kind": "FREE_LUNCH"}, ErrorCode.INVALID_INPUT, "kind"),
        ({"valid_days": 0}, ErrorCode.INVALID_INPUT, "validDays"),
        ({"points_price": 0}, ErrorCode.INVALID_INPUT, "pointsPrice"),
        ({"stock": -1}, ErrorCode.INVALID_INPUT, "stock"),
        ({"per_member_limit": 0}, ErrorCode.INVALID_INPUT, "perMemberLimit"),
        ({"limit_period": "WEEK"}, ErrorCode.INVALID_INPUT, "limitPeriod"),
        ({"face_value": "1.234"}, ErrorCode.INVALID_INPUT, "faceValue"),
        ({"eligible_tier_codes": ("PLATINUM",)}, ErrorCode.NOT_FOUND, "eligibleTierCodes"),
        ({"redeemable_at_unit_ids": ("CASINO",)}, ErrorCode.NOT_FOUND, "redeemableAtUnitIds"),
        ({"business_unit": "CASINO"}, ErrorCode.NOT_FOUND, "businessUnitId"),
        ({"code": "no spaces"}, ErrorCode.INVALID_INPUT, "code"),
    ],
)
async def test_bad_terms_are_refused_and_nothing_is_written(
    units, uow_factory, changes, code, field
):
    from dataclasses import replace

    with raises_code(code, field):
        async with uow_factory() as uow:
            await create_right(uow, spec=replace(LOUNGE, **changes), actor="ops:anna")
    async with uow_factory() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Right)) == 0
        assert await uow.session.scalar(select(func.count()).select_from(OperatorAction)) == 0


async def test_a_reason_longer_than_the_trail_keeps_is_refused_not_cut(units, uow_factory):
    with raises_code(ErrorCode.INVALID_INPUT, "reason"):
        async with uow_factory() as uow:
            await create_right(uow, spec=LOUNGE, actor="ops:anna", reason="x" * 201)
    async with uow_factory() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Right)) == 0
        assert await uow.session.scalar(select(func.count()).select_from(OperatorAction)) == 0


async def test_codes_are_unique_and_a_free_right_costs_nothing(units, uow_factory):
    async with uow_factory() as uow:
        await create_right(uow, spec=LOUNGE, actor="ops:anna")
    with raises_code(ErrorCode.DUPLICATE, "code"):
        async with uow_factory() as uow:
            await create_right(uow, spec=LOUNGE, actor="ops:anna")
    async with uow_factory() as uow:
        free = await create_right(
            uow,
            spec=RightSpec("PROPERTY", "Home cleaning", "SERVICE", 30, provider_cost="0"),
            actor="ops:anna",
        )
    assert free.points_price is None and free.provider_cost == Decimal("0.00")  # not for sale


async def test_an_update_keeps_what_it_does_not_name_and_logs_before_and_after(units, uow_factory):
    async with uow_factory() as uow:
        right = await create_right(uow, spec=LOUNGE, actor="ops:anna")
    async with uow_factory() as uow:
        await update_right(
            uow, right_id=right.id, changes={"points_price": 2500}, actor="ops:ben", reason="sale"
        )
    async with uow_factory() as uow:
        stored = await uow.session.get(Right, right.id)
        action = (
            await uow.session.scalars(select(OperatorAction).order_by(OperatorAction.id.desc()))
        ).first()
        hotel_only = await list_rights(uow, limit=10, unit_id=units["HOTEL"])
        mall_only = await list_rights(uow, limit=10, unit_id=units["MALL"])
    assert stored.points_price == 2500 and stored.stock_remaining == 50
    assert action.action == "right.update" and action.actor == "ops:ben"
    assert (action.detail["before"]["points_price"], action.detail["after"]["points_price"]) == (
        3000,
        2500,
    )
    assert [r.id for r in hotel_only] == [right.id] and mall_only == []
    with raises_code(ErrorCode.INVALID_INPUT, "input"):
        async with uow_factory() as uow:
            await update_right(uow, right_id=right.id, changes={"colour": "red"}, actor="ops:ben")
