"""Tier evaluation: apply the end-of-validity rules to every member whose tier period ended.

Idempotent and safe to run twice or concurrently: each member is handled in its own transaction
under the member's balance lock, with the standing re-read inside it; a member another run has
already handled has a validity end in the future and is left alone. Results are decided as of
each validity end, so a late run gives the same tiers as a punctual one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.domain.tiers.standing import evaluate_expiry, members_due_for_review
from app.platform.outbox import OutboxRelay
from app.platform.uow import unit_of_work

ACTOR = "job:evaluate-tiers"


@dataclass(frozen=True)
class TierJobReport:
    members: int
    changes: int
    outcomes: dict[str, int] = field(default_factory=dict)  # how many "kept" / "changed"

    def __str__(self) -> str:
        detail = ", ".join(f"{n} {what}" for what, n in sorted(self.outcomes.items()))
        return f"evaluate-tiers: {self.members} members, {self.changes} changes" + (
            f" ({detail})" if detail else ""
        )


async def evaluate_tiers(
    sessions: async_sessionmaker,
    *,
    now: datetime,
    tz: ZoneInfo,
    relay: OutboxRelay | None = None,
) -> TierJobReport:
    """Every member whose tier validity (or manual grant) ended by `now`, one at a time."""
    members = changes = 0
    outcomes: Counter[str] = Counter()
    seen: set[int] = set()
    while True:
        async with unit_of_work(sessions, now=now, tz=tz) as uow:
            batch = [m for m in await members_due_for_review(uow) if m not in seen]
        if not batch:
            return TierJobReport(members, changes, dict(outcomes))
        for member_id in batch:
            seen.add(member_id)
            async with unit_of_work(sessions, now=now, tz=tz, relay=relay) as uow:
                done = await evaluate_expiry(uow, member_id, actor=ACTOR)
            if done:
                members += 1
                changes += len(done)
                for change in done:
                    kept = change.from_tier == change.standing.tier.code
                    outcomes["kept" if kept else "changed"] += 1
