"""`verify_ledger`: recompute balances and lots from postings and allocations, report drift."""

from __future__ import annotations

from sqlalchemy import text

from app.platform.uow import UnitOfWork

CHECKS = {
    "unbalanced transaction": """
        SELECT transaction_id, SUM(points) FROM postings
        GROUP BY transaction_id HAVING SUM(points) <> 0""",
    "lot remaining differs from points minus allocations": """
        SELECT l.id, l.remaining, l.points - COALESCE(SUM(a.points), 0)
        FROM points_lots l LEFT JOIN lot_allocations a ON a.lot_id = l.id
        GROUP BY l.id HAVING l.remaining <> l.points - COALESCE(SUM(a.points), 0)""",
    "available differs from postings": """
        SELECT b.member_id, b.available, COALESCE(p.total, 0) FROM member_balances b
        LEFT JOIN (SELECT account_owner, SUM(points) AS total FROM postings
                   WHERE account_kind = 'MEMBER_AVAILABLE' GROUP BY account_owner) p
          ON p.account_owner = b.member_id
        WHERE b.available <> COALESCE(p.total, 0)""",
    "pending differs from postings": """
        SELECT b.member_id, b.pending, COALESCE(p.total, 0) FROM member_balances b
        LEFT JOIN (SELECT account_owner, SUM(points) AS total FROM postings
                   WHERE account_kind = 'MEMBER_PENDING' GROUP BY account_owner) p
          ON p.account_owner = b.member_id
        WHERE b.pending <> COALESCE(p.total, 0)""",
    "balance differs from lots": """
        SELECT b.member_id, b.available, b.pending, b.debt,
               COALESCE(l.avail, 0), COALESCE(l.pend, 0) FROM member_balances b
        LEFT JOIN (SELECT member_id,
                          SUM(remaining) FILTER (WHERE state = 'AVAILABLE') AS avail,
                          SUM(remaining) FILTER (WHERE state = 'PENDING') AS pend
                   FROM points_lots GROUP BY member_id) l ON l.member_id = b.member_id
        WHERE b.available <> COALESCE(l.avail, 0) - b.debt OR b.pending <> COALESCE(l.pend, 0)""",
    "debt differs from its history": """
        SELECT b.member_id, b.debt, COALESCE(t.total, 0) FROM member_balances b
        LEFT JOIN (SELECT member_id, SUM(debt_change) AS total FROM points_transactions
                   GROUP BY member_id) t ON t.member_id = b.member_id
        WHERE b.debt <> COALESCE(t.total, 0)""",
    "debt while points are available": """
        SELECT b.member_id, b.debt FROM member_balances b
        WHERE b.debt > 0 AND EXISTS (SELECT 1 FROM points_lots l WHERE l.member_id = b.member_id
                                     AND l.state = 'AVAILABLE' AND l.remaining > 0)""",
    "transaction points differ from the member's postings": """
        SELECT t.id, t.kind, t.points, COALESCE(SUM(p.points), 0) FROM points_transactions t
        LEFT JOIN postings p ON p.transaction_id = t.id
             AND p.account_kind IN ('MEMBER_AVAILABLE', 'MEMBER_PENDING')
        WHERE t.kind <> 'RELEASE'
        GROUP BY t.id HAVING t.points <> COALESCE(SUM(p.points), 0)""",
    # `spent` is kept (under lock) only for budgeted campaigns; the others' is their usage
    "budgeted campaign's spent differs from what its members received": """
        SELECT c.id, c.spent, COALESCE(u.total, 0) FROM campaigns c
        LEFT JOIN (SELECT campaign_id, SUM(points) AS total FROM campaign_member_usage
                   GROUP BY campaign_id) u ON u.campaign_id = c.id
        WHERE c.budget IS NOT NULL AND c.spent <> COALESCE(u.total, 0)""",
    "campaign usage exceeds the points of its lots": """
        SELECT u.campaign_id, u.total, COALESCE(l.issued, 0)
        FROM (SELECT campaign_id, SUM(points) AS total FROM campaign_member_usage
              GROUP BY campaign_id) u
        LEFT JOIN (SELECT campaign_id, SUM(points) AS issued FROM points_lots
                   WHERE origin_lot_id IS NULL AND campaign_id IS NOT NULL
                   GROUP BY campaign_id) l ON l.campaign_id = u.campaign_id
        WHERE u.total > COALESCE(l.issued, 0)""",
}


async def verify_ledger(uow: UnitOfWork) -> list[str]:
    """Every invariant of the ledger, checked from the raw rows; an empty list means clean."""
    problems: list[str] = []
    for name, sql in CHECKS.items():
        for row in (await uow.session.execute(text(sql))).all():
            problems.append(f"{name}: {tuple(row)}")
    return problems
