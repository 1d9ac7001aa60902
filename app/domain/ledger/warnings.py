"""Points that will expire soon, told once (POINTS_EXPIRING, for the messaging service's
reminders through webhooks).

A member is warned once per day (group calendar) on which some of their available points
expire, when that day comes within `within_days`: one event with the points expiring that day
and the first instant they do. The warning is remembered (`member_warnings`, unique per member
and day) in the transaction that records the event, so running the job twice, or two at once,
warns once; a day already passed is never warned about.
"""

from __future__ import annotations

from datetime import timedelta

from app.domain.ledger.accounts import LotState
from app.domain.shared.events import EventType
from app.platform.outbox import DomainEvent
from app.platform.uow import UnitOfWork

KIND = EventType.POINTS_EXPIRING.value

# Per (member, local day) not yet warned: points available that expire that day within the
# horizon; remembered in the same statement, and returned only when newly remembered.
_WARN = """WITH due AS (
    SELECT l.member_id, date(timezone($1::text, l.expires_at))::text AS day,
           min(l.expires_at) AS first_at, sum(l.remaining) AS points
    FROM points_lots l
    WHERE l.remaining > 0 AND l.state = $2 AND l.expires_at > $3 AND l.expires_at <= $4
      AND NOT EXISTS (
          SELECT 1 FROM member_warnings w WHERE w.kind = $6 AND w.member_id = l.member_id
            AND w.due_on = date(timezone($1::text, l.expires_at))::text)
    GROUP BY 1, 2
    ORDER BY 1, 2
    LIMIT $5
), fresh AS (
    INSERT INTO member_warnings (kind, member_id, due_on, created_at)
    SELECT $6, member_id, day, $3 FROM due
    ON CONFLICT DO NOTHING
    RETURNING member_id, due_on
)
SELECT due.member_id, due.day, due.first_at, due.points
FROM due JOIN fresh ON fresh.member_id = due.member_id AND fresh.due_on = due.day
ORDER BY 1, 2"""


async def warn_expiring_points(uow: UnitOfWork, *, within_days: int, limit: int = 500) -> int:
    """Record a POINTS_EXPIRING event for up to `limit` (member, day) pairs not yet warned;
    returns how many (fewer than `limit`: none are left)."""
    driver = await uow.driver()
    rows = await driver.fetch(
        _WARN,
        str(uow.tz),
        LotState.AVAILABLE.value,
        uow.now,
        uow.now + timedelta(days=within_days),
        limit,
        KIND,
    )
    for row in rows:
        uow.record_event(
            DomainEvent(
                type=KIND,
                member_id=row["member_id"],
                payload={
                    "memberId": row["member_id"],
                    "points": int(row["points"]),
                    "expiresOn": row["day"],
                    "expiresAt": row["first_at"].isoformat(),
                    "withinDays": within_days,
                },
            )
        )
    return len(rows)
