"""Reading a period's statement: a closed period's is the one stored at its close (a lookup),
an open period's is computed now from the ledger (app.domain.settlement.lines).

Who may read what is decided here: finance and ops read every party's; a unit's partner key
with the `settlement` scope reads its own party only (no unit named: its own); anyone else,
and a key asking for another unit, is refused (PermissionDenied: FORBIDDEN at the edge).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select, text

from app.domain.access.principals import Principal
from app.domain.ledger.accounts import GROUP
from app.domain.settlement.lines import read_figures
from app.domain.settlement.periods import Period
from app.domain.settlement.statement import GROUP_PARTY, Statement, compute_statement
from app.domain.settlement.terms import estimating_from, terms_for
from app.domain.shared.errors import PermissionDenied
from app.domain.shared.units import find_unit, list_units
from app.models import SettlementPeriod
from app.platform.uow import UnitOfWork

SCOPE = "settlement"
READERS = ("finance", "ops")

_MERCHANTS = text("SELECT id, code FROM merchants")
_CLOSED_PRICE = text(
    "SELECT statement ->> 'clearing_price' FROM settlement_periods WHERE period = :period"
)


def may_read_all(principal: Principal) -> bool:
    return any(principal.has_role(role) for role in READERS)


async def readable_party(
    uow: UnitOfWork, principal: Principal, business_unit: str | None
) -> str | None:
    """The party `principal` asks for (None: every party), or PermissionDenied."""
    if may_read_all(principal):
        if business_unit is None:
            return None
        if str(business_unit).strip().upper() == GROUP_PARTY:
            return GROUP_PARTY
        return (await find_unit(uow, business_unit)).code
    if principal.has_scope(SCOPE) and principal.unit_id is not None:
        if business_unit is None:
            return (await find_unit(uow, principal.unit_id)).code
        if str(business_unit).strip().upper() != GROUP_PARTY:  # GROUP is never a unit's own
            unit = await find_unit(uow, business_unit)
            if unit.id == principal.unit_id:
                return unit.code
    raise PermissionDenied("a settlement statement is for finance, ops or the unit's own key")


async def closed_periods(uow: UnitOfWork) -> set[str]:
    return set(await uow.session.scalars(select(SettlementPeriod.period)))


async def compute_open(uow: UnitOfWork, period: Period) -> Statement:
    """The statement of `period` computed from the ledger now (whether or not it is closed);
    the points outstanding carried from the previous period when that one is closed."""
    previous = await stored_statement(uow, period.previous())
    opening = (
        {p.business_unit_id or GROUP: p.liability_points for p in previous.parties}
        if previous is not None
        else None
    )
    figures = await read_figures(uow, period.start(uow.tz), period.end(uow.tz), opening)
    advance = await _advance_at_start(uow, period, previous)
    units = {unit.id: unit.code for unit in await list_units(uow) if unit.id is not None}
    merchants = {row.id: row.code for row in await uow.session.execute(_MERCHANTS)}
    return compute_statement(
        period,
        terms=await terms_for(uow, period),
        figures=figures,
        units=units,
        merchants=merchants,
        closed=await closed_periods(uow),
        tz=uow.tz,
        advance=advance,
    )


async def _advance_at_start(
    uow: UnitOfWork, period: Period, previous: Statement | None
) -> dict[int, Decimal]:
    """Each funder's breakage recognised ahead of expiry when `period` starts: the previous
    period's, as stored at its close, or computed (back to the first period whose terms had a
    breakage rate: before it nothing was recognised ahead)."""
    if previous is None:
        since = await estimating_from(uow)
        if since is None or period.previous().first_day < since:
            return {}
        previous = await compute_open(uow, period.previous())
    return {
        p.business_unit_id or GROUP: p.breakage_advance_amount
        for p in previous.parties
        if p.breakage_advance_amount
    }


async def stored_statement(uow: UnitOfWork, period: Period) -> Statement | None:
    row = await uow.session.get(SettlementPeriod, str(period))
    return Statement.from_json(row.statement) if row is not None else None


async def settlement_statement(
    uow: UnitOfWork,
    *,
    principal: Principal,
    period: str,
    business_unit: str | None = None,
) -> Statement:
    """The statement of `period` (YYYY-MM) as `principal` may see it."""
    wanted = Period.parse(period)
    party = await readable_party(uow, principal, business_unit)
    statement = await stored_statement(uow, wanted) or await compute_open(uow, wanted)
    return statement if party is None else statement.for_party(party)


async def clearing_price_of(uow: UnitOfWork, period: Period) -> Decimal:
    """The group clearing price `period`'s statement values points at (its liability and
    breakage): a closed period's as it was closed, an open period's from the terms in effect on
    its first day (DEFAULT_CLEARING_PRICE when none are). Per-unit prices price redemptions at
    a unit, not the points outstanding, so they play no part here."""
    closed = await uow.session.scalar(_CLOSED_PRICE, {"period": str(period)})
    if closed is not None:
        return Decimal(closed)
    return (await terms_for(uow, period)).clearing_price


async def breakage_advance_at_end(uow: UnitOfWork, period: Period) -> dict[int, Decimal]:
    """Each funder's breakage recognised ahead of expiry on its points still outstanding at the
    end of `period` (unit id, GROUP for the group's own), which `period`'s statement nets from
    its liability: a closed period's as stored at its close, an open period's as computed now.
    Funders with none are left out; empty at once when no terms had a breakage rate by the
    period's end (nothing can have been recognised ahead, and no statement is computed)."""
    statement = await stored_statement(uow, period)
    if statement is None:
        since = await estimating_from(uow)
        if since is None or since >= period.next().first_day:
            return {}
        statement = await compute_open(uow, period)
    return {
        p.business_unit_id or GROUP: p.breakage_advance_amount
        for p in statement.parties
        if p.breakage_advance_amount
    }
