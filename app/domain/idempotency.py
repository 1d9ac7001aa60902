"""Idempotent requests: the first result of a (caller, key) is kept and replayed.

The primary key on (caller, key) does the deduplication: a concurrent duplicate's INSERT waits
for the first transaction and then finds its row, so exactly one effect is recorded. The row
commits in the same transaction as the effect, so a retry after an ambiguous commit replays too.
A request that fails with a domain error rolls back, key included: it may be retried.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from app.domain.errors import DomainError, ErrorCode
from app.domain.uow import UnitOfWork
from app.models import IdempotencyKey


def fingerprint(operation: str, payload: dict[str, Any]) -> str:
    canonical = json.dumps({"op": operation, **payload}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Outcome:
    result: dict[str, Any]
    replayed: bool


async def run_once(
    uow: UnitOfWork,
    *,
    caller: str,
    key: str,
    operation: str,
    payload: dict[str, Any],
    effect: Callable[[], Awaitable[dict[str, Any]]],
) -> Outcome:
    """Run `effect` once per (caller, key); replay its stored result for the same payload."""
    key = (key or "").strip()
    if not 1 <= len(key) <= 100:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "idempotency key must be 1-100 characters", "idempotencyKey"
        )
    digest = fingerprint(operation, payload)
    claimed = await uow.session.scalar(
        insert(IdempotencyKey)
        .values(
            caller=caller,
            key=key,
            operation=operation,
            fingerprint=digest,
            result={},
            created_at=uow.now,
        )
        .on_conflict_do_nothing(index_elements=["caller", "key"])
        .returning(IdempotencyKey.key)
    )
    if claimed is None:
        stored = (
            await uow.session.execute(
                select(IdempotencyKey.fingerprint, IdempotencyKey.result).where(
                    IdempotencyKey.caller == caller, IdempotencyKey.key == key
                )
            )
        ).one()
        if stored.fingerprint != digest:
            raise DomainError(
                ErrorCode.IDEMPOTENCY_CONFLICT,
                "this idempotency key was used with a different request",
                "idempotencyKey",
            )
        return Outcome(stored.result, replayed=True)
    result = await effect()
    await uow.session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.caller == caller, IdempotencyKey.key == key)
        .values(result=result)
    )
    return Outcome(result, replayed=False)
