"""The operators' audit trail: record an action in the same transaction as its effect; list it.

Domain functions that operators call (grant a tier, edit a campaign, clear an abuse flag) call
`log_operator_action` inside their unit of work, so the trail and the change commit together or
not at all.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.domain.shared.errors import DomainError, ErrorCode
from app.models.operations import OperatorAction
from app.platform.uow import UnitOfWork


def _jsonable(value: Any) -> Any:
    """Decimals, datetimes and other values as strings; dicts and lists recursively."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def operator_reason(reason: str | None, *, required: bool = False) -> str | None:
    """An operator's reason as the trail keeps it: trimmed, None when blank; INVALID_INPUT when
    it is over the column's 200 characters (or blank where one is `required`), rather than
    cut short without a word."""
    text = (reason or "").strip()
    if (required and not text) or len(text) > 200:
        wanted = "1-200 characters" if required else "at most 200 characters"
        raise DomainError(ErrorCode.INVALID_INPUT, f"reason must be {wanted}", "reason")
    return text or None


async def log_operator_action(
    uow: UnitOfWork,
    *,
    actor: str,
    action: str,
    target_kind: str,
    target_id: str | int,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> OperatorAction:
    """Append one action to the audit trail (flushed, so it has its id)."""
    row = OperatorAction(
        actor=actor[:64],
        action=action[:60],
        target_kind=target_kind[:32],
        target_id=str(target_id)[:64],
        reason=reason[:200] if reason else None,
        detail=_jsonable(detail or {}),
        created_at=uow.now,
    )
    uow.session.add(row)
    await uow.session.flush()
    return row


async def list_operator_actions(
    uow: UnitOfWork,
    *,
    target_kind: str | None = None,
    target_id: str | None = None,
    actor: str | None = None,
    limit: int,
    before_id: int | None = None,
) -> list[OperatorAction]:
    """Newest first, filtered by target and/or actor; keyset on id."""
    query = select(OperatorAction).order_by(OperatorAction.id.desc()).limit(limit)  # type: ignore[union-attr]
    if target_kind:
        query = query.where(OperatorAction.target_kind == target_kind)
    if target_id:
        query = query.where(OperatorAction.target_id == target_id)
    if actor:
        query = query.where(OperatorAction.actor == actor)
    if before_id is not None:
        query = query.where(OperatorAction.id < before_id)  # type: ignore[operator]
    return list((await uow.session.execute(query)).scalars())


async def log_row_change(
    uow: UnitOfWork,
    row: Any,
    *,
    actor: str,
    action: str,
    target_kind: str,
    reason: str | None,
    before: dict[str, Any] | None,
    after: dict[str, Any],
) -> None:
    """Audit an operator's create or edit of a catalogue row (a right, a mall item): flushed
    first, so a new row has its id; its terms before (None for a new row) and after."""
    await uow.session.flush()
    await log_operator_action(
        uow,
        actor=actor,
        action=action,
        target_kind=target_kind,
        target_id=row.id or 0,
        reason=operator_reason(reason),
        detail={"before": before, "after": after},
    )
