"""`expiring_points`: the members whose available points expire within N days, for the
reminder service, one page at a time (keyset by member id: the page's members are found
first, through the open-lots index in member order, and only their lots are read).

Per member: the points that expire in (now, now + N days], the first instant some do, and the
points per local day (group time zone). The warnings themselves (POINTS_EXPIRING events, once
per member and day) are the job `warn-expiring-points` (app.domain.ledger.warnings).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from app.domain.ledger.accounts import LotState
from app.domain.shared.errors import DomainError, ErrorCode
from app.platform.uow import UnitOfWork

MAX_DAYS = 366
MAX_FIRST = 100

# The page first, then its lots. `page` walks the open-lots index (member_id, expires_at, id)
# in member order and stops at the page's last member: it reads about the page's members' open
# lots, not every lot expiring in the window (grouping the whole window before a LIMIT cost
# 287 ms at 2,000,000 lots, docs/performance.md). For a narrow window the planner takes the
# expiry index instead, which is then the smaller read. No index is added to the earn path.
_PAGE = """WITH page AS MATERIALIZED (
    SELECT DISTINCT member_id FROM points_lots
    WHERE remaining > 0 AND state = $2 AND expires_at > $3 AND expires_at <= $4
      AND member_id > $5
    ORDER BY member_id LIMIT $6
), days AS (
    SELECT l.member_id, (l.expires_at AT TIME ZONE $1)::date AS day,
           min(l.expires_at) AS first_at, sum(l.remaining) AS points
    FROM page JOIN points_lots l ON l.member_id = page.member_id
    WHERE l.remaining > 0 AND l.state = $2 AND l.expires_at > $3 AND l.expires_at <= $4
    GROUP BY 1, 2
)
SELECT member_id, sum(points) AS points, min(first_at) AS first_at,
       array_agg(day ORDER BY day) AS days, array_agg(points ORDER BY day) AS day_points
FROM days GROUP BY member_id ORDER BY member_id"""


@dataclass(frozen=True)
class ExpiringMember:
    member_id: int
    points: int
    first_expires_at: datetime
    days: list[tuple[date, int]]


def check_window(within_days: int, first: int | None) -> int:
    """The page size; INVALID_INPUT for a window outside 1-366 days or `first` outside 0-100."""
    if not 1 <= within_days <= MAX_DAYS:
        raise DomainError(ErrorCode.INVALID_INPUT, f"withinDays must be 1-{MAX_DAYS}", "withinDays")
    if first is not None and not 0 <= first <= MAX_FIRST:
        raise DomainError(ErrorCode.INVALID_INPUT, f"first must be 0-{MAX_FIRST}", "first")
    return 20 if first is None else first


async def expiring_points(
    uow: UnitOfWork, *, within_days: int, limit: int, after_member: int = 0
) -> list[ExpiringMember]:
    """Up to `limit` members after `after_member`, by id (see the module's docstring)."""
    rows = await (await uow.driver()).fetch(
        _PAGE,
        str(uow.tz),
        LotState.AVAILABLE.value,
        uow.now,
        uow.now + timedelta(days=within_days),
        after_member,
        limit,
    )
    return [
        ExpiringMember(
            member_id=row["member_id"],
            points=int(row["points"]),
            first_expires_at=row["first_at"],
            days=[(d, int(p)) for d, p in zip(row["days"], row["day_points"], strict=True)],
        )
        for row in rows
    ]
