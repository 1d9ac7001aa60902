"""What is particular to each kind of activity, typed: a union a client picks with fragments
(`kindDetail { ... on StayDetail { nights roomType } }`). Read leniently from the item's
`detail`, since a remote system may leave fields out: a missing or malformed field is null."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from app.sources import FormatActivityItem, FormatActivityKind


@strawberry.type(description="A hotel stay (PMS).")
class StayDetail:
    nights: int | None
    room_type: str | None


@strawberry.type(description="A car park session at the mall.")
class ParkingDetail:
    plate: str | None
    minutes: int | None


@strawberry.type(description="A receipt from a mall merchant's till.")
class ReceiptDetail:
    merchant_code: str | None
    category: str | None


@strawberry.type(description="A property-management bill.")
class BillDetail:
    period: str | None = strawberry.field(description='The month billed, "2026-05".')
    bill_type: str | None
    paid: bool = strawberry.field(description="Paid (endedAt is when).")


@strawberry.type(description="An order at a convenience store.")
class OrderDetail:
    store_code: str | None
    items: int | None


FormatActivityDetail = Annotated[
    StayDetail | ParkingDetail | ReceiptDetail | BillDetail | OrderDetail,
    strawberry.union("ActivityDetail"),
]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def kind_detail(item: FormatActivityItem) -> FormatActivityDetail:
    """The typed detail for the item's kind."""
    d = item.detail
    match item.kind:
        case FormatActivityKind.STAY:
            return StayDetail(nights=_int(d.get("nights")), room_type=_text(d.get("roomType")))
        case FormatActivityKind.PARKING:
            return ParkingDetail(plate=_text(d.get("plate")), minutes=_int(d.get("minutes")))
        case FormatActivityKind.RECEIPT:
            return ReceiptDetail(
                merchant_code=_text(d.get("merchantCode")), category=_text(d.get("category"))
            )
        case FormatActivityKind.BILL:
            return BillDetail(
                period=_text(d.get("period")),
                bill_type=_text(d.get("billType")),
                paid=item.ended_at is not None,
            )
        case _:
            return OrderDetail(store_code=_text(d.get("storeCode")), items=_int(d.get("items")))
