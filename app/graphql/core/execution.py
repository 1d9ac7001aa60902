"""Run a mutation's domain effect in one unit of work, idempotently when a key is given.

Domain errors become typed `UserError`s in the payload (nothing recorded); a permission
failure becomes a FORBIDDEN GraphQL error; anything else is masked at the schema level. After
the commit, the unit of work hands its domain events (points changed...) to the worker's outbox
relay, which announces them to live subscribers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asyncpg.exceptions import IntegrityConstraintViolationError
from sqlalchemy.exc import IntegrityError

from app.domain.shared.errors import DomainError, ErrorCode, PermissionDenied
from app.domain.shared.idempotency import run_once
from app.domain.shared.units import find_unit
from app.graphql.core.errors import UserError, forbidden, user_error
from app.graphql.core.observability import record_user_errors
from app.models import PointsTransaction
from app.platform.uow import UnitOfWork

Effect = Callable[[UnitOfWork], Awaitable[dict[str, Any]]]


def fingerprint(input: Any) -> dict[str, Any]:
    """A mutation input as its idempotency key's payload: each field as text (or None), so a
    retry with the same key and other values is IDEMPOTENCY_CONFLICT."""
    return {k: (str(v) if v is not None else None) for k, v in vars(input).items()}


async def execute(
    ctx: Any,
    *,
    operation: str,
    effect: Effect,
    idempotency_key: str | None = None,
    payload: dict[str, Any] | None = None,
    key_required: bool = False,
) -> tuple[dict[str, Any], list[UserError]]:
    """The effect's result and no errors, or an empty result and the user errors."""
    try:
        if key_required and not (idempotency_key or "").strip():
            raise DomainError(
                ErrorCode.INVALID_INPUT, "an idempotency key is required", "idempotencyKey"
            )
        async with ctx.uow() as uow:
            if idempotency_key is None:
                result = await effect(uow)
            else:
                outcome = await run_once(
                    uow,
                    caller=ctx.principal.caller,
                    key=idempotency_key,
                    operation=operation,
                    payload=await _resolved(uow, payload or {}),
                    effect=lambda: effect(uow),
                )
                result = {**outcome.result, "replayed": outcome.replayed}
        remember_committed(ctx, uow)
        return result, []
    except DomainError as error:
        return _refused(user_error(error))
    except PermissionDenied as error:
        raise forbidden(str(error)) from None
    except (IntegrityError, IntegrityConstraintViolationError):
        # A concurrent request won a uniqueness race (same phone, order, external id); the
        # second class: the same from fixed SQL sent straight to asyncpg (app.platform.driver).
        return _refused(
            UserError(
                code=ErrorCode.DUPLICATE,
                message="a conflicting request was recorded at the same moment",
                field=None,
            )
        )


async def execute_change(
    ctx: Any, operation: str, input: Any, change: Callable[..., Awaitable[Any]]
) -> tuple[int | None, bool, list[UserError]]:
    """An operator's audited change of a catalogue row (a right, a mall item, a lottery):
    `change(uow, actor=, reason=)` returns the row, run once per idempotency key. The committed
    row's id (to read again as committed, which a replay needs), whether it was a replay, and
    the errors."""

    async def effect(uow: UnitOfWork) -> dict[str, Any]:
        row = await change(uow, actor=ctx.principal.caller, reason=input.reason)
        return {"id": row.id}

    result, errors = await execute(
        ctx,
        operation=operation,
        effect=effect,
        idempotency_key=input.idempotency_key,
        payload=fingerprint(input),
    )
    if errors:
        return None, False, errors
    return result["id"], result.get("replayed", False), []


async def _resolved(uow: UnitOfWork, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with its business unit as the unit it names: `HOTEL`, `hotel` and `3` are
    one request, so a retry naming the unit by code after naming it by id replays. A unit
    that does not exist stays as written (the effect refuses it; nothing is kept)."""
    ref = payload.get("business_unit_id")
    if ref is None:
        return payload
    try:
        unit = await find_unit(uow, ref)
    except DomainError:
        return payload
    return {**payload, "business_unit_id": str(unit.id)}


async def committed_transaction(ctx: Any, transaction_id: int) -> PointsTransaction:
    """A transaction this request committed, as it was written; else (a replay) read it."""
    row = ctx.committed_transactions.get(transaction_id)
    if row is None:
        async with ctx.services.sessions() as session:
            row = await session.get(PointsTransaction, transaction_id)
    return row


def remember_committed(ctx: Any, uow: UnitOfWork) -> None:
    """After the commit: the balances the effect locked and the transactions it recorded are
    what the database now holds, so the payload shows them without reading them again."""
    for member_id, row in uow.balances.items():
        ctx.loaders.balance.clear(member_id).prime(member_id, row)
    ctx.committed_transactions.update(uow.recorded)


def _refused(error: UserError) -> tuple[dict[str, Any], list[UserError]]:
    record_user_errors([error])  # counted in metrics by code
    return {}, [error]


async def execute_steps(
    ctx: Any, work: Callable[[], Awaitable[Any]]
) -> tuple[Any, list[UserError]]:
    """For an act of several units of work that calls out between them (signing in with
    WeChat: no transaction is held while WeChat answers): its result and no errors, or None and
    the user errors, mapped as `execute` maps them."""
    try:
        return await work(), []
    except DomainError as error:
        return None, _refused(user_error(error))[1]
    except PermissionDenied as error:
        raise forbidden(str(error)) from None
    except (IntegrityError, IntegrityConstraintViolationError):
        # Two first sign-ins of one WeChat user or one phone at the same moment: one binds.
        return None, _refused(
            UserError(
                code=ErrorCode.DUPLICATE,
                message="a conflicting request was recorded at the same moment; sign in again",
                field=None,
            )
        )[1]
