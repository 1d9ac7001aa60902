"""Rights' jobs: grant each tier's recurring rights for the current period; expire vouchers.

- `grant_tier_rights`: one statement finds a batch of members with tier rights not granted for
  this period; each batch is one transaction, and within it each grant's key is taken before
  its vouchers are issued (app.domain.rights.tier_grants), so running the job twice, or twice
  at once, grants each member each period once. Keyset over member ids: a member whose grant
  another run took is simply passed.
- `expire_rights`: ACTIVE vouchers past their validity become EXPIRED, a batch per
  transaction (rows another run holds are skipped, not waited for), each with its
  VOUCHER_ENDED (reason EXPIRED).

Their VOUCHER_ISSUED and VOUCHER_ENDED events go to the relay given, after each batch commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.domain.rights.lifecycle import expire_rights as expire_batch
from app.domain.rights.tier_grants import grant_member_tier_rights, members_due, tier_rights
from app.platform.outbox import OutboxRelay
from app.platform.uow import unit_of_work

BATCH = 200


@dataclass(frozen=True)
class GrantReport:
    members: int
    vouchers: int

    def __str__(self) -> str:
        return f"grant-tier-rights: {self.members} members, {self.vouchers} vouchers"


async def grant_tier_rights(
    sessions: async_sessionmaker,
    *,
    now: datetime,
    tz: ZoneInfo,
    relay: OutboxRelay | None = None,
    batch: int = BATCH,
) -> GrantReport:
    """The current period's tier rights of every member who has not had them."""
    members = vouchers = 0
    after = 0
    while True:
        async with unit_of_work(sessions, now=now, tz=tz, relay=relay) as uow:
            due = await members_due(uow, after_member_id=after, limit=batch)
            if not due:
                return GrantReport(members, vouchers)
            full = len(due) == batch
            if full and due[0][0] != due[-1][0]:
                # The limit may have cut the last member's rights short: they come whole next.
                due = [pair for pair in due if pair[0] != due[-1][0]]
            terms = await tier_rights(uow)
            tier_of = {term.id: term.tier_code for term, _ in terms}
            for member_id, pairs in groupby(due, key=lambda pair: pair[0]):
                wanted = {term_id for _, term_id in pairs}
                tier = tier_of[next(iter(wanted))]
                issued = await grant_member_tier_rights(
                    uow, member_id, tier, terms=terms, only=wanted
                )
                members += bool(issued)
                vouchers += len(issued)
                after = member_id
        if not full:
            return GrantReport(members, vouchers)


@dataclass(frozen=True)
class ExpireReport:
    vouchers: int

    def __str__(self) -> str:
        return f"expire-rights: {self.vouchers} vouchers expired"


async def expire_rights(
    sessions: async_sessionmaker,
    *,
    now: datetime,
    tz: ZoneInfo,
    relay: OutboxRelay | None = None,
    batch: int = 1000,
) -> ExpireReport:
    """Every ACTIVE voucher past its validity, EXPIRED."""
    total = 0
    while True:
        async with unit_of_work(sessions, now=now, tz=tz, relay=relay) as uow:
            done = await expire_batch(uow, limit=batch)
        total += done
        if done < batch:
            return ExpireReport(total)
