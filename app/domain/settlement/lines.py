"""Where settlement lines come from: the ledger's allocation rows and REDEEMED postings, read
with set-based SQL (a few aggregate statements per period, never a row at a time in Python).

A settlement line is points consumed for something a party gave: every `lot_allocations` row
of kind SPEND or RESTORE whose transaction has a REDEEMED posting. The lot says who issued and
funded the points (funder None: the group's marketing budget, GROUP 0); the REDEEMED posting's
owner is the redeeming party (a till's unit, a right's provider, a mall item's supplier, GROUP
for a lottery draw); the transaction's merchant, if any, is the redeemer's tenant. A redemption
given back is the opposite line: RESTORE allocations (negative points) against the original
lots, or, where a lot had expired meanwhile, the new lot the restore made (`origin_lot_id`,
counted negative). Nothing here names a transaction kind, so every kind of redemption that goes
through app.domain.ledger.redemption feeds settlement the same way (docs/adr/0006).

The points outstanding at a period's end are carried: those at the end of the previous
period, when it is closed (its stored statement's `liabilityPoints`), plus the period's own
movements (lots made less allocations); only without a closed previous period are they summed
over all history. A closed statement never changes and the ledger is append-only, so the two
agree (pinned in tests/domain/test_settlement.py).

Lines are grouped by funder, issuer, redeemer, merchant and direction; a reversal of a
transaction of an earlier period keeps the original's id and time so the statement can book it
as an adjustment when that period is closed. A transaction names one redeemer (one REDEEMED
posting): that is how app.domain.ledger.redemption writes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text

from app.platform.uow import UnitOfWork

_LINES = text("""WITH redeemed AS (
    SELECT t.id, t.merchant_id, t.reverses_id, r.account_owner AS redeemer
    FROM points_transactions t
    JOIN postings r ON r.transaction_id = t.id AND r.account_kind = 'REDEEMED'
    WHERE t.created_at >= :start AND t.created_at < :end
), consumed AS (
    SELECT d.merchant_id, d.reverses_id, d.redeemer, l.funder_unit_id, l.issuer_unit_id,
        a.points
    FROM redeemed d
    JOIN lot_allocations a ON a.transaction_id = d.id AND a.kind IN ('SPEND', 'RESTORE')
    JOIN points_lots l ON l.id = a.lot_id
    UNION ALL
    SELECT d.merchant_id, d.reverses_id, d.redeemer, l.funder_unit_id, l.issuer_unit_id,
        -l.points
    FROM redeemed d
    JOIN points_lots l ON l.transaction_id = d.id AND l.origin_lot_id IS NOT NULL
)
SELECT g.funder, g.issuer, g.redeemer, g.merchant_id, g.redemption,
    CASE WHEN o.created_at < :start THEN o.id END AS original_id,
    CASE WHEN o.created_at < :start THEN o.created_at END AS original_at,
    sum(g.points)::bigint AS points, sum(g.allocations)::bigint AS allocations
FROM (
    SELECT coalesce(c.funder_unit_id, 0) AS funder, c.issuer_unit_id AS issuer, c.redeemer,
        c.merchant_id, c.points > 0 AS redemption,
        CASE WHEN c.points < 0 THEN c.reverses_id END AS reverses_id,
        sum(c.points) AS points, count(*) AS allocations
    FROM consumed c
    GROUP BY 1, 2, 3, 4, 5, 6
) AS g
LEFT JOIN points_transactions o ON o.id = g.reverses_id
GROUP BY 1, 2, 3, 4, 5, 6, 7
HAVING sum(g.points) <> 0
ORDER BY 1, 3, 2, 4 NULLS FIRST, 5 DESC, 6 NULLS FIRST""")

# Points issued in the period per funder: lots an earning made (not the lots a restore made
# again for expired ones), with their cost to the issuer.
_ISSUED = text("""SELECT coalesce(l.funder_unit_id, 0) AS party, sum(l.points)::bigint AS points,
    sum(l.points * l.cost_per_point) AS cost
FROM points_lots l JOIN points_transactions t ON t.id = l.transaction_id
WHERE l.origin_lot_id IS NULL AND t.created_at >= :start AND t.created_at < :end
GROUP BY 1""")

# Points expired in the period per funder, and points taken back from its lots without a
# redemption: by an order's refund (REFUND) and to pay off a member's debt (DEBT).
_EXPIRED = text("""SELECT coalesce(l.funder_unit_id, 0) AS party,
    coalesce(sum(a.points) FILTER (WHERE a.kind = 'EXPIRY'), 0)::bigint AS points,
    coalesce(sum(a.points) FILTER (WHERE a.kind <> 'EXPIRY'), 0)::bigint AS taken_back
FROM lot_allocations a
JOIN points_transactions t ON t.id = a.transaction_id
JOIN points_lots l ON l.id = a.lot_id
WHERE a.kind IN ('EXPIRY', 'REFUND', 'DEBT') AND t.created_at >= :start AND t.created_at < :end
GROUP BY 1""")

# Points outstanding at the period's end per funder: every lot made before it less everything
# taken from lots before it (restorations are negative allocations, so they add back).
_OUTSTANDING = text("""SELECT party, sum(points)::bigint AS points FROM (
    SELECT coalesce(l.funder_unit_id, 0) AS party, l.points
    FROM points_lots l JOIN points_transactions t ON t.id = l.transaction_id
    WHERE t.created_at < :end
    UNION ALL
    SELECT coalesce(l.funder_unit_id, 0), -a.points
    FROM lot_allocations a
    JOIN points_transactions t ON t.id = a.transaction_id
    JOIN points_lots l ON l.id = a.lot_id
    WHERE t.created_at < :end
) AS moved GROUP BY party""")


# The same over the period only: what its movements changed, per funder. Added to the points
# outstanding at the end of the previous period, when that one is closed and stored.
_MOVED = text("""SELECT party, sum(points)::bigint AS points FROM (
    SELECT coalesce(l.funder_unit_id, 0) AS party, l.points
    FROM points_lots l JOIN points_transactions t ON t.id = l.transaction_id
    WHERE t.created_at >= :start AND t.created_at < :end
    UNION ALL
    SELECT coalesce(l.funder_unit_id, 0), -a.points
    FROM lot_allocations a
    JOIN points_transactions t ON t.id = a.transaction_id
    JOIN points_lots l ON l.id = a.lot_id
    WHERE t.created_at >= :start AND t.created_at < :end
) AS moved GROUP BY party""")


@dataclass(frozen=True)
class LineSource:
    """One group of allocations: points (negative for a reversal) from `funder`'s lots issued
    by `issuer`, redeemed at `redeemer` (at `merchant_id`, if a tenant's)."""

    funder: int
    issuer: int
    redeemer: int
    merchant_id: int | None
    points: int
    allocations: int
    original_id: int | None = None  # a reversal of a transaction of an earlier period
    original_at: datetime | None = None


@dataclass(frozen=True)
class LedgerFigures:
    lines: list[LineSource]
    issued: dict[int, tuple[int, object]]  # party -> (points, exact cost)
    expired: dict[int, int]
    outstanding: dict[int, int]
    taken_back: dict[int, int] = field(default_factory=dict)  # by refunds and debt repayment


async def read_figures(
    uow: UnitOfWork, start: datetime, end: datetime, opening: dict[int, int] | None = None
) -> LedgerFigures:
    """The period's lines, issued and expired points, and the points outstanding at its end:
    `opening` (those outstanding at its start, from the previous period's stored statement)
    plus the period's movements, or, without it, summed over all history."""
    window = {"start": start, "end": end}
    session = uow.session
    lines = [
        LineSource(
            funder=row.funder,
            issuer=row.issuer,
            redeemer=row.redeemer,
            merchant_id=row.merchant_id,
            points=row.points,
            allocations=row.allocations,
            original_id=row.original_id,
            original_at=row.original_at,
        )
        for row in await session.execute(_LINES, window)
    ]
    issued = {row.party: (row.points, row.cost) for row in await session.execute(_ISSUED, window)}
    expired, taken_back = {}, {}
    for row in await session.execute(_EXPIRED, window):
        expired[row.party], taken_back[row.party] = row.points, row.taken_back
    if opening is None:
        outstanding = {
            row.party: row.points for row in await session.execute(_OUTSTANDING, {"end": end})
        }
    else:
        outstanding = dict(opening)
        for row in await session.execute(_MOVED, window):
            outstanding[row.party] = outstanding.get(row.party, 0) + row.points
    return LedgerFigures(lines, issued, expired, outstanding, taken_back)
