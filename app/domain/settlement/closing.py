"""Closing a settlement period: its statement is computed once more and stored; from then on it
is read from the store and never changes.

- Finance only (PermissionDenied otherwise); the job closes as `job:close-settlement`.
- Only a period that is over in the group's time zone, and settled: over for longer than the
  longest a ledger transaction stays open (`settle_window`: the request timeout plus the
  statement timeout, 15 s by default). INVALID_INPUT otherwise, field `period`.
- No ledger transaction dated inside the period is left out. A ledger row is dated by its unit
  of work's clock (`created_at`), which is read before the transaction writes and commits, so a
  spend timestamped 23:59:59.9 may commit after midnight. Had the close read the ledger before
  that commit, the row would be missing from the stored statement, and the next period (which
  reads from midnight on, and carries the points outstanding from this statement) would never
  see it either. So the close (1) waits out the settle window, after which every unit of work
  dated inside the period has written its rows (a request's is cancelled at the request
  timeout), and (2) passes a barrier: on a connection of its own it takes
  `points_transactions` in SHARE mode, which waits for every transaction that has written a
  ledger row and is still open to commit or roll back, and lets it go at once (so the ledger
  is held up only while the barrier waits, at most `BARRIER_WAIT`). Only then does it read the
  ledger. A transaction still open after `BARRIER_WAIT` (a long job) makes the close
  UNAVAILABLE: nothing is stored, closing again later goes through.
- Closing a closed period changes nothing and answers the stored statement. Two closes at once
  take a transaction-level advisory lock on the period first, so one computes and stores and
  the other then finds it stored.
- A reversal that arrives after the close lands in the period it happens in (an open one) and
  is booked there as an adjustment naming the original (app.domain.settlement.statement).
- Each close is written to the operators' audit trail.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.domain.access.principals import Principal
from app.domain.settlement.periods import Period
from app.domain.settlement.statement import Statement
from app.domain.settlement.statements import compute_open, stored_statement
from app.domain.shared.errors import DomainError, ErrorCode, PermissionDenied
from app.domain.shared.operator_log import log_operator_action
from app.models import SettlementPeriod
from app.platform.uow import UnitOfWork

CLOSER_ROLE = "finance"
_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('settlement-close:' || :period))")
BARRIER_WAIT = timedelta(seconds=3)
LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE of lock_timeout


def settle_window(request_timeout_seconds: float, statement_timeout_ms: int) -> timedelta:
    """The longest a ledger transaction dated inside a period can still be writing after the
    period's end: a request's unit of work lives at most the request timeout, and its last
    statement may run the statement timeout past it."""
    return timedelta(seconds=request_timeout_seconds, milliseconds=statement_timeout_ms)


DEFAULT_SETTLE = settle_window(10.0, 5000)  # the settings' defaults


async def _ledger_barrier(uow: UnitOfWork) -> None:
    """Wait until every open transaction that has written a ledger row has ended (see the
    module's docstring); UNAVAILABLE when one is still open after BARRIER_WAIT."""
    wait_ms = int(BARRIER_WAIT.total_seconds() * 1000)
    async with uow.engine.connect() as connection:
        try:
            async with connection.begin():
                await connection.execute(text(f"SET LOCAL lock_timeout = {wait_ms}"))
                await connection.execute(text("LOCK TABLE points_transactions IN SHARE MODE"))
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
            raise DomainError(
                ErrorCode.UNAVAILABLE,
                "a ledger transaction is still open; closing waits for it: try again shortly",
            ) from None


def may_close(principal: Principal) -> bool:
    return principal.has_role(CLOSER_ROLE)


async def close_settlement_period(
    uow: UnitOfWork, *, period: str, actor: str, settle: timedelta = DEFAULT_SETTLE
) -> Statement:
    """Close `period` (YYYY-MM) and answer its stored statement; see the module's docstring.
    The caller has checked that `actor` may close (`may_close`); `settle` is the settings'
    `settle_window`."""
    wanted = Period.parse(period)
    settled = wanted.end(uow.tz) + settle
    if uow.now < settled:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"{wanted} is not over and settled yet: it closes from {settled.isoformat()}",
            "period",
        )
    await uow.session.execute(_LOCK, {"period": str(wanted)})
    stored = await stored_statement(uow, wanted)
    if stored is not None:
        return stored
    await _ledger_barrier(uow)
    statement = replace(await compute_open(uow, wanted), status="CLOSED", closed_at=uow.now)
    uow.session.add(
        SettlementPeriod(
            period=str(wanted),
            closed_at=uow.now,
            closed_by=actor[:64],
            statement=statement.to_json(),
        )
    )
    await log_operator_action(
        uow,
        actor=actor,
        action="close-settlement-period",
        target_kind="settlement-period",
        target_id=str(wanted),
        detail={
            "lines": len(statement.lines),
            "adjustments": len(statement.adjustments),
            "receivable": str(sum(p.receivable_amount for p in statement.parties)),
        },
    )
    return statement


async def close_as(
    uow: UnitOfWork, *, principal: Principal, period: str, settle: timedelta = DEFAULT_SETTLE
) -> Statement:
    """`close_settlement_period` for a caller: finance only."""
    if not may_close(principal):
        raise PermissionDenied("only finance closes a settlement period")
    return await close_settlement_period(uow, period=period, actor=principal.caller, settle=settle)
