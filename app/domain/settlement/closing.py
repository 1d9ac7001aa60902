"""Closing a settlement period: its statement is computed once more and stored; from then on it
is read from the store and never changes.

- Finance only (PermissionDenied otherwise); the job closes as `job:close-settlement`.
- Only a period that is over in the group's time zone (INVALID_INPUT otherwise, field
  `period`): a month closes from midnight opening the next month on.
- Closing a closed period changes nothing and answers the stored statement. Two closes at once
  take a transaction-level advisory lock on the period first, so one computes and stores and
  the other then finds it stored.
- A reversal that arrives after the close lands in the period it happens in (an open one) and
  is booked there as an adjustment naming the original (app.domain.settlement.statement).
- Each close is written to the operators' audit trail.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import text

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


def may_close(principal: Principal) -> bool:
    return principal.has_role(CLOSER_ROLE)


async def close_settlement_period(uow: UnitOfWork, *, period: str, actor: str) -> Statement:
    """Close `period` (YYYY-MM) and answer its stored statement; see the module's docstring.
    The caller has checked that `actor` may close (`may_close`)."""
    wanted = Period.parse(period)
    if not wanted.is_over(uow.now, uow.tz):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"{wanted} is not over yet: it closes from {wanted.end(uow.tz).isoformat()}",
            "period",
        )
    await uow.session.execute(_LOCK, {"period": str(wanted)})
    stored = await stored_statement(uow, wanted)
    if stored is not None:
        return stored
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


async def close_as(uow: UnitOfWork, *, principal: Principal, period: str) -> Statement:
    """`close_settlement_period` for a caller: finance only."""
    if not may_close(principal):
        raise PermissionDenied("only finance closes a settlement period")
    return await close_settlement_period(uow, period=period, actor=principal.caller)
