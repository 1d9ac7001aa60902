"""A statement as files for finance: the CSV a spreadsheet opens, and the journal for the
general ledger.

CSV: UTF-8 with a byte order mark (so Excel reads the Chinese names right), one header row,
amounts as plain decimals with two places (no thousands separators, no currency signs). One row
per party figure set, per matrix cell and per line, told apart by the first column `section`.

Journal (points as a contract liability, IFRS 15 / CAS 14). The liability is carried at the
group's clearing price of the period, the price it was deferred at; per funding party
- issuance: the points' value deferred (Dr the party's marketing expense, Cr contract
  liability) — what it owes members;
- redemption, in house or elsewhere: the liability released at that same deferred value per
  point (Dr contract liability); in house against its revenue (Cr revenue); elsewhere against
  an intercompany payable to the group's clearing for what it is billed (Cr intercompany
  payable) and other income for what a billing percentage leaves to the group (Cr other
  income); where the redeemer's price is overridden, the redemption's clearing amount differs
  from the deferred value, and the difference is an intercompany price difference (Dr when
  the redeemer's price is higher, Cr when lower) — so the liability released is always what was
  deferred, and deferred - released - breakage - taken back is the liability outstanding;
- the group books what it carries of billing percentages as marketing (Dr marketing, Cr
  intercompany payable); a redeemer books the intercompany receivable and its revenue (Dr
  receivable, Cr revenue) at the redemption's clearing amount;
- points taken back without a redemption (an order's refund; new points paying off a member's
  debt) reverse their issuance (Dr contract liability, Cr marketing);
- breakage recognised by whoever keeps it by the policy (Dr contract liability, Cr breakage
  revenue): when the terms carry an estimated breakage rate, in proportion to redemptions (the
  estimate, on its own line) and at expiry only what the estimate had not recognised already (the
  true-up, reversed — Dr breakage revenue, Cr liability — where the estimate was too high);
  without a rate, when the points expire (app.domain.settlement.breakage).
Every entry balances; amounts are the statement's own or its points at the clearing price, so
the journal adds up to the cent (exactly so at a clearing price in whole cents, the group's).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from app.domain.settlement.rounding import to_cents
from app.domain.settlement.statement import GROUP_PARTY, Statement

BOM = "\ufeff"
CSV_HEADER = [
    "section",
    "period",
    "status",
    "party",
    "funder",
    "issuer",
    "redeemer",
    "merchant",
    "kind",
    "points",
    "amount",
    "funder_amount",
    "group_amount",
    "original_transaction_id",
    "original_period",
    "issued_points",
    "issued_cost",
    "redeemed_in_house_points",
    "payable_points",
    "payable_amount",
    "receivable_points",
    "receivable_amount",
    "breakage_points",
    "breakage_amount",
    "net_amount",
    "liability_points",
    "liability_amount",
    "taken_back_points",
    "funding_model",
    "breakage_estimated_amount",
    "breakage_advance_amount",
]


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def statement_csv(statement: Statement) -> str:
    """The statement as CSV text, BOM first (see the module's docstring)."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.DictWriter(out, fieldnames=CSV_HEADER, lineterminator="\r\n", restval="")
    writer.writeheader()
    head = {"period": statement.period, "status": statement.status}
    for p in statement.parties:
        writer.writerow(
            {
                **head,
                "section": "party",
                "party": p.party,
                "issued_points": p.issued_points,
                "issued_cost": _money(p.issued_cost),
                "redeemed_in_house_points": p.redeemed_in_house_points,
                "payable_points": p.payable_points,
                "payable_amount": _money(p.payable_amount),
                "receivable_points": p.receivable_points,
                "receivable_amount": _money(p.receivable_amount),
                "breakage_points": p.breakage_points,
                "breakage_amount": _money(p.breakage_amount),
                "net_amount": _money(p.net_amount),
                "liability_points": p.liability_points,
                "liability_amount": _money(p.liability_amount),
                "taken_back_points": p.taken_back_points,
                "funding_model": p.funding_model or "",
                "breakage_estimated_amount": _money(p.breakage_estimated_amount),
                "breakage_advance_amount": _money(p.breakage_advance_amount),
            }
        )
    for c in statement.matrix:
        writer.writerow(
            {
                **head,
                "section": "matrix",
                "funder": c.funder,
                "redeemer": c.redeemer,
                "points": c.points,
                "amount": _money(c.amount),
            }
        )
    for section, lines in (("line", statement.lines), ("adjustment", statement.adjustments)):
        for line in lines:
            writer.writerow(
                {
                    **head,
                    "section": section,
                    "funder": line.funder,
                    "issuer": line.issuer,
                    "redeemer": line.redeemer,
                    "merchant": line.merchant or "",
                    "kind": line.kind,
                    "points": line.points,
                    "amount": _money(line.amount),
                    "funder_amount": _money(line.funder_amount),
                    "group_amount": _money(line.group_amount),
                    "original_transaction_id": line.original_transaction_id or "",
                    "original_period": line.original_period or "",
                }
            )
    return out.getvalue()


@dataclass(frozen=True)
class JournalEntry:
    party: str
    account: str
    debit: Decimal
    credit: Decimal
    memo: str


LIABILITY = "2205 Contract liability - loyalty points"
MARKETING = "6601 Marketing expense - loyalty points"
REVENUE = "6001 Revenue - points redeemed"
BREAKAGE = "6051 Breakage revenue - expired points"
RECEIVABLE = "1221 Intercompany receivable - points clearing"
PAYABLE = "2241 Intercompany payable - points clearing"
SUBSIDY = "6301 Other income - points billed to the group"
PRICE_DIFFERENCE = "6402 Intercompany price difference - points redeemed"


def statement_journal(statement: Statement) -> list[JournalEntry]:
    """The period's journal for the general ledger (see the module's docstring)."""
    price = statement.clearing_price
    entries: list[JournalEntry] = []
    zero = Decimal("0.00")

    def line(party: str, account: str, amount: Decimal, memo: str) -> None:
        """A debit (positive) or credit (negative) of `amount` to `account`."""
        if amount > 0:
            entries.append(JournalEntry(party, account, amount, zero, memo))
        elif amount < 0:
            entries.append(JournalEntry(party, account, zero, -amount, memo))

    def pair(party: str, debit: str, credit: str, amount: Decimal, memo: str) -> None:
        line(party, debit, amount, memo)  # a negative amount: the entry the other way round
        line(party, credit, -amount, memo)

    billed: dict[str, Decimal] = defaultdict(Decimal)
    subsidised: dict[str, Decimal] = defaultdict(Decimal)
    carried = zero
    for item in statement.lines + statement.adjustments:
        if item.funder != item.redeemer:
            billed[item.funder] += item.funder_amount
            subsidised[item.funder] += item.group_amount
            carried += item.group_amount
    for p in statement.parties:
        issued = to_cents(p.issued_points * price)
        pair(p.party, MARKETING, LIABILITY, issued, f"{p.issued_points} points issued")
        in_house = to_cents(p.redeemed_in_house_points * price)
        pair(p.party, LIABILITY, REVENUE, in_house, "its points redeemed in house")
        # its points redeemed elsewhere: the liability released at what was deferred, the
        # clearing amount billed (to it and to the group), the override between them
        memo = "its points redeemed elsewhere"
        released = to_cents(p.payable_points * price)
        line(p.party, LIABILITY, released, memo)
        line(p.party, PRICE_DIFFERENCE, billed[p.party] + subsidised[p.party] - released, memo)
        line(p.party, PAYABLE, -billed[p.party], memo)
        line(p.party, SUBSIDY, -subsidised[p.party], "billing percentage: group's")
        if p.party == GROUP_PARTY:
            pair(p.party, MARKETING, PAYABLE, carried, "billing percentages carried")
        pair(p.party, RECEIVABLE, REVENUE, p.receivable_amount, "others' points redeemed here")
        taken = to_cents(p.taken_back_points * price)
        pair(p.party, LIABILITY, MARKETING, taken, f"{p.taken_back_points} taken back")
        estimate = p.breakage_estimated_amount
        pair(p.party, LIABILITY, BREAKAGE, estimate, "breakage estimated on redemptions")
        expiry = p.breakage_amount - estimate
        memo = f"{p.breakage_points} expired" + (" (true-up)" if statement.breakage_rate else "")
        pair(p.party, LIABILITY, BREAKAGE, expiry, memo)
    return entries


def journal_csv(statement: Statement) -> str:
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["period", "party", "account", "debit", "credit", "memo"])
    for entry in statement_journal(statement):
        writer.writerow(
            [
                statement.period,
                entry.party,
                entry.account,
                _money(entry.debit),
                _money(entry.credit),
                entry.memo,
            ]
        )
    return out.getvalue()
