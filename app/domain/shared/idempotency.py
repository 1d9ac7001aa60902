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

from app.domain.shared.errors import DomainError, ErrorCode
from app.platform.uow import UnitOfWork

# The claim: a concurrent duplicate waits on the primary key for the first transaction.
CLAIM_SQL = """INSERT INTO idempotency_keys
(caller, key, operation, fingerprint, result, created_at)
VALUES ($1, $2, $3, $4, '{}', $5)
ON CONFLICT (caller, key) DO NOTHING
RETURNING key"""
_STORED = "SELECT fingerprint, result FROM idempotency_keys WHERE caller = $1 AND key = $2"
KEEP_SQL = "UPDATE idempotency_keys SET result = $3 WHERE caller = $1 AND key = $2"


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
    driver = await uow.driver()
    claimed = await driver.fetchval(CLAIM_SQL, caller, key, operation, digest, uow.now)
    if claimed is None:
        stored = await driver.fetchrow(_STORED, caller, key)
        if stored["fingerprint"] != digest:
            raise DomainError(
                ErrorCode.IDEMPOTENCY_CONFLICT,
                "this idempotency key was used with a different request",
                "idempotencyKey",
            )
        return Outcome(stored["result"], replayed=True)
    result = await effect()
    await driver.execute(KEEP_SQL, caller, key, json.dumps(result))
    return Outcome(result, replayed=False)
