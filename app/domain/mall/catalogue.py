"""The mall's catalogue: items on the shelf, validated as a whole, edited by operators.

An item is supplied by one unit (it ships a PHYSICAL gift; it provides the rights a VOUCHER or
RIGHT_PACKAGE issues, so those rights must be its own). Its terms:
- a points price and a cash price (points + cash; "0.00" when points alone), at least one of
  them above nothing; cash is decimal CNY to the cent;
- stock, or none (unlimited); a per-member limit over the member's lifetime, or none;
- a sale window (either end may be open); a tier-only zone (`tier_only_code`: that tier or a
  higher one may order it);
- a VOUCHER issues one right per unit ordered, a RIGHT_PACKAGE two or more; a PHYSICAL none;
- `flash_sale`: a rush is expected when the window opens (the Redis gate admits first:
  app.domain.mall.flash_gate).
Every creation and change is in the operators' audit trail with before and after.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.ids import parse_id
from app.domain.shared.money import parse_amount
from app.domain.shared.operator_log import log_row_change
from app.domain.shared.units import find_unit
from app.domain.tiers.standing import read_ladder
from app.models import MallItem, Right
from app.platform.uow import UnitOfWork


class MallItemKind(StrEnum):
    PHYSICAL = "PHYSICAL"  # a gift its supplier ships
    VOUCHER = "VOUCHER"  # issues one right
    RIGHT_PACKAGE = "RIGHT_PACKAGE"  # issues several rights


MAX_PRICE_POINTS = 10_000_000
MAX_CASH = Decimal("100000.00")


@dataclass(frozen=True)
class MallItemSpec:
    """An item's terms as an operator states them (the supplier by id or code, a tier by code)."""

    name: str
    kind: str
    supplier_unit: str | int
    points_price: int
    cash_price: Decimal | str | None = None
    description: str | None = None
    stock: int | None = None
    per_member_limit: int | None = None
    sale_starts_at: datetime | None = None
    sale_ends_at: datetime | None = None
    tier_only_code: str | None = None
    right_ids: tuple[str | int, ...] = field(default_factory=tuple)
    flash_sale: bool = False
    active: bool = True


def _bad(message: str, field_name: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, message, field_name)


def _whole(value: int | None, name: str, *, least: int, most: int = 100_000_000) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not least <= value <= most:
        raise _bad(f"{name} must be a whole number from {least} to {most}", name)
    return value


def _cash(value: Decimal | str | None) -> Decimal:
    if value is None or str(value).strip() in ("0", "0.0", "0.00"):
        return Decimal("0.00")
    amount = parse_amount(value, "cashPrice")
    if amount > MAX_CASH:
        raise _bad(f"cashPrice must be at most {MAX_CASH}", "cashPrice")
    return amount


async def _terms(uow: UnitOfWork, spec: MallItemSpec) -> dict[str, Any]:
    """The columns of an item with these terms, or INVALID_INPUT / NOT_FOUND for the field at
    fault."""
    name = (spec.name or "").strip()
    if not 1 <= len(name) <= 80:
        raise _bad("name must be 1-80 characters", "name")
    description = (spec.description or "").strip() or None
    if description is not None and len(description) > 500:
        raise _bad("description must be at most 500 characters", "description")
    kind = str(spec.kind or "").strip().upper()
    if kind not in MallItemKind.__members__:
        raise _bad(f"kind must be one of {', '.join(MallItemKind)}", "kind")
    points = _whole(spec.points_price, "pointsPrice", least=0, most=MAX_PRICE_POINTS)
    cash = _cash(spec.cash_price)
    if not points and not cash:
        raise _bad("an item costs points, cash or both", "pointsPrice")
    starts, ends = spec.sale_starts_at, spec.sale_ends_at
    for moment, label in ((starts, "saleStartsAt"), (ends, "saleEndsAt")):
        if moment is not None and moment.tzinfo is None:
            raise _bad("a time needs its offset", label)
    if starts is not None and ends is not None and ends <= starts:
        raise _bad("the sale must end after it starts", "saleEndsAt")
    supplier = await find_unit(uow, spec.supplier_unit, "supplierUnitId")
    tier = (spec.tier_only_code or "").strip().upper() or None
    if tier is not None:
        tiers, _ = await read_ladder(uow)
        if tier not in {row.code for row in tiers}:
            raise DomainError(ErrorCode.NOT_FOUND, f"no tier {tier}", "tierOnlyCode")
    right_ids = await _rights(uow, kind, spec.right_ids, supplier.id or 0)
    if spec.flash_sale and (spec.stock is None or starts is None):
        raise _bad("a flash sale has a stock and a start", "flashSale")
    return {
        "name": name,
        "description": description,
        "kind": kind,
        "supplier_unit_id": supplier.id,
        "points_price": points,
        "cash_price": cash,
        "stock_remaining": _whole(spec.stock, "stock", least=0),
        "per_member_limit": _whole(spec.per_member_limit, "perMemberLimit", least=1),
        "sale_starts_at": starts,
        "sale_ends_at": ends,
        "tier_only_code": tier,
        "right_ids": right_ids,
        "flash_sale": bool(spec.flash_sale),
        "active": bool(spec.active),
    }


async def _rights(
    uow: UnitOfWork, kind: str, wanted: tuple[str | int, ...], supplier_id: int
) -> list[int]:
    """The rights the item issues, in order: one for a VOUCHER, 2-10 for a RIGHT_PACKAGE, none
    for a PHYSICAL gift; each an active right of the supplier."""
    counts = {"PHYSICAL": (0, 0), "VOUCHER": (1, 1), "RIGHT_PACKAGE": (2, 10)}[kind]
    if not counts[0] <= len(wanted) <= counts[1]:
        shown = "none" if counts[1] == 0 else f"{counts[0]}-{counts[1]}"
        raise _bad(f"a {kind} item issues {shown} rights", "rightIds")
    ids = []
    for ref in wanted:
        text = str(ref).strip()
        right_id = parse_id(text, big=True)
        right = await uow.session.get(Right, right_id) if right_id is not None else None
        if right is None or not right.active:
            raise DomainError(ErrorCode.NOT_FOUND, f"no right {text!r}", "rightIds")
        if right.provider_unit_id != supplier_id:
            raise _bad(f"{right.name} is not the supplier's right", "rightIds")
        ids.append(right.id or 0)
    return ids


def spec_of(item: MallItem) -> MallItemSpec:
    return MallItemSpec(
        name=item.name,
        kind=item.kind,
        supplier_unit=item.supplier_unit_id,
        points_price=item.points_price,
        cash_price=item.cash_price,
        description=item.description,
        stock=item.stock_remaining,
        per_member_limit=item.per_member_limit,
        sale_starts_at=item.sale_starts_at,
        sale_ends_at=item.sale_ends_at,
        tier_only_code=item.tier_only_code,
        right_ids=tuple(item.right_ids),
        flash_sale=item.flash_sale,
        active=item.active,
    )


def snapshot(item: MallItem) -> dict[str, Any]:
    """The item's terms as the audit trail keeps them."""
    return {key: (str(value) if isinstance(value, Decimal | datetime) else value)
            for key, value in asdict(spec_of(item)).items()}  # fmt: skip


def item_id_of(item_id: int | str) -> int:
    text = str(item_id).strip()
    if not (text.isascii() and text.isdigit()) or int(text) > 2**63 - 1:
        raise DomainError(ErrorCode.NOT_FOUND, f"no mall item {text!r}", "itemId")
    return int(text)


async def get_item(uow: UnitOfWork, item_id: int | str, *, lock: bool = False) -> MallItem:
    """The item, or NOT_FOUND (`lock`: held until the transaction ends)."""
    query = select(MallItem).where(MallItem.id == item_id_of(item_id))
    if lock:
        query = query.with_for_update()
    item = (await uow.session.scalars(query.execution_options(populate_existing=True))).first()
    if item is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no mall item {item_id!r}", "itemId")
    return item


async def list_items(
    uow: UnitOfWork, *, limit: int, after_id: int | None = None, kind: str | None = None
) -> list[MallItem]:
    """Active items by id after `after_id`; of one kind when `kind` is given."""
    query = select(MallItem).where(MallItem.active).order_by(MallItem.id).limit(limit)  # type: ignore[arg-type]
    if after_id is not None:
        query = query.where(MallItem.id > after_id)  # type: ignore[operator]
    if kind is not None:
        query = query.where(MallItem.kind == kind)
    return list(await uow.session.scalars(query))


async def create_item(
    uow: UnitOfWork, *, spec: MallItemSpec, actor: str, reason: str | None = None
) -> MallItem:
    """Put an item on the shelf; logged."""
    item = MallItem(**await _terms(uow, spec), created_at=uow.now, updated_at=uow.now)
    uow.session.add(item)
    return await _logged(uow, item, "mallItem.create", actor=actor, reason=reason, before=None)


async def update_item(
    uow: UnitOfWork,
    *,
    item_id: int | str,
    changes: dict[str, Any],
    actor: str,
    reason: str | None = None,
) -> MallItem:
    """Change an item's terms (fields of MallItemSpec in `changes`); logged with before and
    after. Orders already placed keep what they cost."""
    item = await get_item(uow, item_id, lock=True)
    unknown = set(changes) - set(asdict(spec_of(item)))
    if unknown:
        raise _bad(f"unknown fields {sorted(unknown)}", "input")
    before = snapshot(item)
    for key, value in (await _terms(uow, replace(spec_of(item), **changes))).items():
        setattr(item, key, value)
    item.updated_at = uow.now
    return await _logged(uow, item, "mallItem.update", actor=actor, reason=reason, before=before)


async def _logged(
    uow: UnitOfWork,
    item: MallItem,
    action: str,
    *,
    actor: str,
    reason: str | None,
    before: dict[str, Any] | None,
) -> MallItem:
    await log_row_change(
        uow,
        item,
        actor=actor,
        action=action,
        target_kind="mallItem",
        reason=reason,
        before=before,
        after=snapshot(item),
    )
    return item
