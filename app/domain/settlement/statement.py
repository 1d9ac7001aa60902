"""A period's settlement statement, computed from the ledger's figures and the period's terms
(pure: no database here).

Money moves through the group's clearing, line by line:
- the redeemer receives points x its clearing price (`amount`);
- the funder pays that amount x its billing percentage (`funder_amount`);
- GROUP carries the rest (`group_amount`), and pays the whole amount of the points its
  marketing budget funded (it is their funder).
Points redeemed at their own funder (in house) move no money. A reversal is the opposite line
(negative points and amounts); a reversal of a transaction of a closed period is booked in this
period as an adjustment that names the original transaction.

Per party: receivable = what it receives as redeemer; payable = what it pays as funder (GROUP:
plus what it carries); net = receivable - payable. Every amount is whole cents: a redeemer's
total is its exact total rounded half up, shared over its lines by largest remainder; likewise
each funder's share. So lines add up to cells and parties, the receivables of all parties equal
their payables, and the nets sum to exactly zero. Breakage (recognised on expiry, or in
proportion to redemptions under an estimated rate: app.domain.settlement.breakage) is income of
whoever keeps it by the policy; it moves no money between parties. A funder's liability is its
points outstanding at the group's clearing price, less the breakage already recognised on them
(its advance).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from app.domain.ledger.accounts import GROUP
from app.domain.settlement.breakage import recognise
from app.domain.settlement.lines import LedgerFigures, LineSource
from app.domain.settlement.periods import Period
from app.domain.settlement.rounding import share_cents, to_cents
from app.domain.settlement.terms import FULL, PeriodTerms

GROUP_PARTY = "GROUP"
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class SettlementLine:
    funder: str
    issuer: str
    redeemer: str
    merchant: str | None
    kind: str  # REDEMPTION, REVERSAL, ADJUSTMENT
    points: int
    amount: Decimal  # received by the redeemer
    funder_amount: Decimal  # paid by the funder
    group_amount: Decimal  # carried by GROUP
    allocations: int
    original_transaction_id: int | None = None
    original_period: str | None = None


@dataclass(frozen=True)
class SettlementCell:
    funder: str
    redeemer: str
    points: int
    amount: Decimal


@dataclass(frozen=True)
class PartyStatement:
    party: str
    business_unit_id: int | None
    issued_points: int = 0
    issued_cost: Decimal = ZERO
    redeemed_in_house_points: int = 0
    payable_points: int = 0
    payable_amount: Decimal = ZERO
    receivable_points: int = 0
    receivable_amount: Decimal = ZERO
    breakage_points: int = 0
    breakage_amount: Decimal = ZERO
    net_amount: Decimal = ZERO
    liability_points: int = 0
    liability_amount: Decimal = ZERO
    # its points taken back from members without a redemption in the period: by an order's
    # refund, and to pay off a member's debt (the journal reverses their issuance)
    taken_back_points: int = 0
    # POST_PAID or PRE_PAID in force on the period's first day; None for GROUP (and in
    # statements closed before the model had dates)
    funding_model: str | None = None
    # breakage it keeps that the period recognised in proportion to redemptions (an estimated
    # rate in force); `breakage_amount` is all it recognised, this included
    breakage_estimated_amount: Decimal = ZERO
    # as funder: breakage recognised ahead of expiry on its points still outstanding at the
    # period's end (netted from `liability_amount`; carried to the next period)
    breakage_advance_amount: Decimal = ZERO


@dataclass(frozen=True)
class Statement:
    period: str
    status: str  # OPEN, CLOSED
    closed_at: datetime | None
    clearing_price: Decimal
    breakage_policy: str
    parties: list[PartyStatement]
    matrix: list[SettlementCell]
    lines: list[SettlementLine]
    adjustments: list[SettlementLine] = field(default_factory=list)
    breakage_rate: Decimal | None = None  # the estimated rate in force; None: on expiry

    def for_party(self, party: str) -> Statement:
        """What one party may see: its own row, and the cells and lines it is part of."""

        def mine(x: Any) -> bool:
            return party in (x.funder, x.redeemer)

        return Statement(
            period=self.period,
            status=self.status,
            closed_at=self.closed_at,
            clearing_price=self.clearing_price,
            breakage_policy=self.breakage_policy,
            parties=[p for p in self.parties if p.party == party],
            matrix=[c for c in self.matrix if mine(c)],
            lines=[line for line in self.lines if mine(line)],
            adjustments=[line for line in self.adjustments if mine(line)],
            breakage_rate=self.breakage_rate,
        )

    def to_json(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Statement:
        def line(d: dict) -> SettlementLine:
            return SettlementLine(**_decimals(d, SettlementLine))

        return cls(
            period=data["period"],
            status=data["status"],
            closed_at=datetime.fromisoformat(data["closed_at"]) if data["closed_at"] else None,
            clearing_price=Decimal(data["clearing_price"]),
            breakage_policy=data["breakage_policy"],
            parties=[PartyStatement(**_decimals(p, PartyStatement)) for p in data["parties"]],
            matrix=[SettlementCell(**_decimals(c, SettlementCell)) for c in data["matrix"]],
            lines=[line(d) for d in data["lines"]],
            adjustments=[line(d) for d in data["adjustments"]],
            breakage_rate=(
                Decimal(data["breakage_rate"]) if data.get("breakage_rate") is not None else None
            ),
        )


_MONEY = {
    "amount",
    "funder_amount",
    "group_amount",
    "issued_cost",
    "payable_amount",
    "receivable_amount",
    "breakage_amount",
    "net_amount",
    "liability_amount",
    "breakage_estimated_amount",
    "breakage_advance_amount",
}


def _decimals(data: dict[str, Any], kind: type) -> dict[str, Any]:
    return {k: Decimal(v) if k in _MONEY else v for k, v in data.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def compute_statement(
    period: Period,
    *,
    terms: PeriodTerms,
    figures: LedgerFigures,
    units: dict[int, str],
    merchants: dict[int, str],
    closed: set[str],
    tz: ZoneInfo,
    advance: dict[int, Decimal] | None = None,
) -> Statement:
    """The OPEN statement of `period` (see the module's docstring); `units` id -> code of
    every unit, `closed` the periods closed so far, `advance` each funder's breakage
    recognised ahead of expiry at the period's start."""

    def code(party: int) -> str:
        return GROUP_PARTY if party == GROUP else units.get(party, str(party))

    sources = figures.lines
    exact = [
        Decimal(0) if s.funder == s.redeemer else s.points * terms.price_at(s.redeemer)
        for s in sources
    ]
    amounts = _shared_by(sources, exact, key=lambda s: s.redeemer)
    funder_exact = [
        amount * terms.billing_of(s.funder) / FULL
        for s, amount in zip(sources, amounts, strict=True)
    ]
    funder_amounts = _shared_by(sources, funder_exact, key=lambda s: s.funder)
    lines: list[SettlementLine] = []
    adjustments: list[SettlementLine] = []
    for s, amount, paid in zip(sources, amounts, funder_amounts, strict=True):
        kind, original_period = _kind(s, closed, tz)
        line = SettlementLine(
            funder=code(s.funder),
            issuer=code(s.issuer),
            redeemer=code(s.redeemer),
            merchant=merchants.get(s.merchant_id) if s.merchant_id else None,
            kind=kind,
            points=s.points,
            amount=amount,
            funder_amount=paid,
            group_amount=amount - paid,
            allocations=s.allocations,
            original_transaction_id=s.original_id,
            original_period=original_period,
        )
        (adjustments if kind == "ADJUSTMENT" else lines).append(line)
    every = lines + adjustments
    parties = _parties(period, terms, figures, units, every, advance or {})
    return Statement(
        period=str(period),
        status="OPEN",
        closed_at=None,
        clearing_price=terms.clearing_price,
        breakage_policy=terms.breakage_policy,
        parties=parties,
        matrix=_matrix(every),
        lines=lines,
        adjustments=adjustments,
        breakage_rate=terms.breakage_rate,
    )


def _kind(s: LineSource, closed: set[str], tz: ZoneInfo) -> tuple[str, str | None]:
    if s.points > 0:
        return "REDEMPTION", None
    if s.original_at is None:
        return "REVERSAL", None
    original = str(Period.of(s.original_at, tz))
    return ("ADJUSTMENT" if original in closed else "REVERSAL"), original


def _shared_by(sources: list[LineSource], exact: list[Decimal], *, key: Any) -> list[Decimal]:
    """Per party (`key` of a line), its lines' exact amounts as cents adding up to its total."""
    groups: dict[int, list[int]] = defaultdict(list)
    for i, source in enumerate(sources):
        groups[key(source)].append(i)
    result = [ZERO] * len(sources)
    for indexes in groups.values():
        for i, cents in zip(indexes, share_cents([exact[i] for i in indexes]), strict=True):
            result[i] = cents
    return result


def _matrix(lines: list[SettlementLine]) -> list[SettlementCell]:
    cells: dict[tuple[str, str], list[Any]] = {}
    for line in lines:
        cell = cells.setdefault((line.funder, line.redeemer), [0, ZERO])
        cell[0] += line.points
        cell[1] += line.amount
    return [
        SettlementCell(funder, redeemer, points, amount)
        for (funder, redeemer), (points, amount) in sorted(cells.items())
    ]


def _parties(
    period: Period,
    terms: PeriodTerms,
    figures: LedgerFigures,
    units: dict[int, str],
    lines: list[SettlementLine],
    advance: dict[int, Decimal],
) -> list[PartyStatement]:
    ids = [GROUP, *sorted(units)]
    codes = {GROUP: GROUP_PARTY, **units}
    row: dict[str, dict[str, Any]] = {codes[i]: defaultdict(int) for i in ids}
    for line in lines:
        if line.funder == line.redeemer:
            row[line.funder]["redeemed_in_house_points"] += line.points
            continue
        row[line.redeemer]["receivable_points"] += line.points
        row[line.redeemer]["receivable_amount"] += line.amount
        row[line.funder]["payable_points"] += line.points
        row[line.funder]["payable_amount"] += line.funder_amount
        row[GROUP_PARTY]["payable_amount"] += line.group_amount
    recognised = recognise(
        ids,
        redeemed={
            i: row[codes[i]]["redeemed_in_house_points"] + row[codes[i]]["payable_points"]
            for i in ids
        },
        expired=figures.expired,
        outstanding=figures.outstanding,
        opening=advance,
        price=terms.clearing_price,
        rate=terms.breakage_rate,
    )
    breakage: dict[int, int] = defaultdict(int)
    breakage_amount: dict[int, Decimal] = defaultdict(lambda: ZERO)
    estimated: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for i in ids:
        keeper = i if terms.breakage_policy == "FUNDERS" else GROUP
        breakage[keeper] += figures.expired.get(i, 0)
        breakage_amount[keeper] += recognised[i].total
        estimated[keeper] += recognised[i].estimated
    parties = []
    for i in ids:
        r = row[codes[i]]
        issued_points, issued_cost = figures.issued.get(i, (0, Decimal(0)))
        liability = figures.outstanding.get(i, 0)
        receivable = Decimal(r["receivable_amount"]) + ZERO
        payable = Decimal(r["payable_amount"]) + ZERO
        parties.append(
            PartyStatement(
                party=codes[i],
                business_unit_id=i if i != GROUP else None,
                issued_points=issued_points,
                issued_cost=to_cents(Decimal(str(issued_cost))),
                redeemed_in_house_points=r["redeemed_in_house_points"],
                payable_points=r["payable_points"],
                payable_amount=payable,
                receivable_points=r["receivable_points"],
                receivable_amount=receivable,
                breakage_points=breakage.get(i, 0),
                breakage_amount=breakage_amount[i],
                net_amount=receivable - payable,
                liability_points=liability,
                liability_amount=(
                    to_cents(liability * terms.clearing_price) - recognised[i].advance
                ),
                taken_back_points=figures.taken_back.get(i, 0),
                funding_model=terms.funding_model_of(i),
                breakage_estimated_amount=estimated[i],
                breakage_advance_amount=recognised[i].advance,
            )
        )
    return parties
