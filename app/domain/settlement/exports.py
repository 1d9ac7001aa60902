"""A statement as files for finance: the CSV a spreadsheet opens, and the journal for the
general ledger.

CSV: UTF-8 with a byte order mark (so Excel reads the Chinese names right), one header row,
amounts as plain decimals with two places (no thousands separators, no currency signs). One row
per party figure set, per matrix cell and per line, told apart by the first column `section`.

Journal (points as a contract liability, IFRS 15 / CAS 14): per funding party
- issuance: the points' value at the clearing price deferred (Dr the party's marketing
  expense, Cr contract liability) — what it owes members;
- redemption elsewhere: its liability released at the redemption's clearing amount against an
  intercompany payable to the group's clearing for what it is billed (Dr contract liability,
  Cr intercompany payable) and other income for what a billing percentage leaves to the group;
  the group books what it carries as marketing (Dr marketing, Cr intercompany payable); the
  redeemer books the intercompany receivable and its revenue (Dr receivable, Cr revenue);
- breakage recognised by whoever keeps it by the policy when the points expire (Dr contract
  liability, Cr breakage revenue): the group has no history to estimate breakage in proportion
  to redemptions yet, so it is recognised on expiry, as the standards allow then.
Every entry balances; amounts are the statement's own, so the journal adds up to the cent.
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


def statement_journal(statement: Statement) -> list[JournalEntry]:
    """The period's journal for the general ledger (see the module's docstring)."""
    price = statement.clearing_price
    entries: list[JournalEntry] = []

    def pair(party: str, debit: str, credit: str, amount: Decimal, memo: str) -> None:
        if amount == 0:
            return
        if amount < 0:  # a net reversal: the entry the other way round
            debit, credit, amount = credit, debit, -amount
        entries.append(JournalEntry(party, debit, amount, Decimal("0.00"), memo))
        entries.append(JournalEntry(party, credit, Decimal("0.00"), amount, memo))

    billed: dict[str, Decimal] = defaultdict(Decimal)
    subsidised: dict[str, Decimal] = defaultdict(Decimal)
    carried = Decimal("0.00")
    for line in statement.lines + statement.adjustments:
        if line.funder != line.redeemer:
            billed[line.funder] += line.funder_amount
            subsidised[line.funder] += line.group_amount
            carried += line.group_amount
    for p in statement.parties:
        issued = to_cents(p.issued_points * price)
        pair(p.party, MARKETING, LIABILITY, issued, f"{p.issued_points} points issued")
        pair(p.party, LIABILITY, PAYABLE, billed[p.party], "its points redeemed elsewhere")
        pair(p.party, LIABILITY, SUBSIDY, subsidised[p.party], "billing percentage: group's")
        if p.party == GROUP_PARTY:
            pair(p.party, MARKETING, PAYABLE, carried, "billing percentages carried")
        pair(p.party, RECEIVABLE, REVENUE, p.receivable_amount, "others' points redeemed here")
        pair(p.party, LIABILITY, BREAKAGE, p.breakage_amount, f"{p.breakage_points} expired")
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
