"""Reading a member's lots and allocations as values for the writer (fixed SQL, no session).

Call these under the member's balance lock: what they return is then what the writer may
change, and nobody else can change it first.
"""

from __future__ import annotations

from datetime import datetime

from app.domain.ledger.accounts import LotState
from app.models import LotAllocation, PointsLot
from app.platform.driver import columns, entity
from app.platform.uow import UnitOfWork

_OPEN = f"""SELECT {columns(PointsLot)} FROM points_lots
WHERE member_id = $1 AND remaining > 0 AND state = $2
ORDER BY expires_at, id"""
_EXPIRED = f"""SELECT {columns(PointsLot)} FROM points_lots
WHERE member_id = $1 AND remaining > 0 AND expires_at <= $2
ORDER BY expires_at, id"""
_RELEASABLE = f"""SELECT {columns(PointsLot)} FROM points_lots
WHERE member_id = $1 AND state = 'PENDING' AND pending_until <= $2
ORDER BY expires_at, id"""
_BY_IDS = f"""SELECT {columns(PointsLot)} FROM points_lots WHERE id = ANY($1::bigint[])
ORDER BY id"""
_MADE_BY = f"""SELECT {columns(PointsLot)} FROM points_lots
WHERE transaction_id = $1 AND origin_lot_id IS NULL
ORDER BY id"""
_ALLOCATIONS_OF = f"""SELECT {columns(LotAllocation)} FROM lot_allocations
WHERE transaction_id = $1 ORDER BY id"""


async def open_lots(uow: UnitOfWork, member_id: int, state: LotState) -> list[PointsLot]:
    """The member's lots in `state` with points left, earliest expiry first."""
    rows = await (await uow.driver()).fetch(_OPEN, member_id, state.value)
    return [entity(PointsLot, row) for row in rows]


async def expired_lots(uow: UnitOfWork, member_id: int, at: datetime) -> list[PointsLot]:
    """The member's lots with points left past their expiry at `at`, earliest first."""
    rows = await (await uow.driver()).fetch(_EXPIRED, member_id, at)
    return [entity(PointsLot, row) for row in rows]


async def releasable_lots(uow: UnitOfWork, member_id: int, at: datetime) -> list[PointsLot]:
    """The member's pending lots whose return window has ended at `at`."""
    rows = await (await uow.driver()).fetch(_RELEASABLE, member_id, at)
    return [entity(PointsLot, row) for row in rows]


async def lots_by_ids(uow: UnitOfWork, lot_ids: list[int]) -> dict[int, PointsLot]:
    rows = await (await uow.driver()).fetch(_BY_IDS, lot_ids)
    return {row["id"]: entity(PointsLot, row) for row in rows}


async def lots_made_by(uow: UnitOfWork, transaction_id: int) -> list[PointsLot]:
    """The lots a transaction made (an earn: its own points and one per campaign bonus)."""
    rows = await (await uow.driver()).fetch(_MADE_BY, transaction_id)
    return [entity(PointsLot, row) for row in rows]


async def allocations_of(uow: UnitOfWork, transaction_id: int) -> list[LotAllocation]:
    """What a transaction took from lots, in order."""
    rows = await (await uow.driver()).fetch(_ALLOCATIONS_OF, transaction_id)
    return [entity(LotAllocation, row) for row in rows]
