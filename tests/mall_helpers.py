"""Shortcuts the mall's tests share: a supplier's right, an item, a member with points."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from app.domain.mall.catalogue import MallItemSpec, create_item
from app.domain.mall.orders import place_order
from app.domain.rights.catalogue import RightSpec, create_right
from app.models import MallItem, MallOrder
from tests.helpers import earn, new_member

WINDOW = timedelta(minutes=15)
TEA = MallItemSpec("Tea set", "PHYSICAL", "MALL", points_price=500, stock=5, per_member_limit=2)


async def item(uow_factory, spec: MallItemSpec = TEA, **changes) -> MallItem:
    async with uow_factory() as uow:
        return await create_item(uow, spec=replace(spec, **changes), actor="ops:test")


async def voucher_item(uow_factory, *, rights: int = 1, **changes) -> MallItem:
    """A VOUCHER (one right) or RIGHT_PACKAGE (several) item of TOURISM, 200 points."""
    ids = []
    async with uow_factory() as uow:
        for n in range(rights):
            spec = RightSpec("TOURISM", f"Ticket {n}", "TICKET", 30, face_value="50.00")
            ids.append((await create_right(uow, spec=spec, actor="ops:test")).id)
    kind = "VOUCHER" if rights == 1 else "RIGHT_PACKAGE"
    spec = MallItemSpec("Museum pass", kind, "TOURISM", points_price=200, right_ids=tuple(ids))
    return await item(uow_factory, spec, **changes)


async def member_with(uow_factory, amount: str = "1000.00", unit: str = "HOTEL") -> int:
    """A member with 2 points per CNY of `amount`, available at once (HOTEL earns 2 per CNY)."""
    async with uow_factory() as uow:
        member = await new_member(uow, unit)
        await earn(uow, member, amount, unit="HOTEL")
    return member


async def order(uow_factory, member: int, item_id: int, quantity: int = 1, **extra) -> MallOrder:
    extra.setdefault("delivery_address", "1 Nanjing Road, Shanghai")
    async with uow_factory() as uow:
        return await place_order(
            uow,
            member_id=member,
            item_id=item_id,
            quantity=quantity,
            caller=f"member:{member}",
            payment_window=WINDOW,
            **extra,
        )
