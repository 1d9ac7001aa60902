"""`referral_stats`: how well members bring members, per period cohort.

The cohort: members who registered in the period with a referrer. Converted: those of them
with a purchase that earned points (an EARN with an order) before the period's end. The
referral coefficient = converted / the distinct referrers of the cohort, to 4 places (0 with
no referrers). Top referrers: the cohort's referrers by converted, then referred, then id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from app.domain.figures.periods import Period
from app.domain.figures.programme import ratio
from app.domain.ledger.accounts import TxKind
from app.platform.uow import UnitOfWork

_COHORT = f"""SELECT m.referred_by_id AS referrer, count(*) AS referred,
       count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM points_transactions t
           WHERE t.member_id = m.id AND t.kind = '{TxKind.EARN.value}'
             AND t.order_ref IS NOT NULL AND t.created_at < $2)) AS converted
FROM members m
WHERE m.referred_by_id IS NOT NULL AND m.registered_at >= $1 AND m.registered_at < $2
GROUP BY 1"""


@dataclass(frozen=True)
class Referrer:
    member_id: int
    referred: int
    converted: int


@dataclass(frozen=True)
class ReferralStats:
    referrers: int
    referred: int
    converted: int
    coefficient: Decimal
    top: list[Referrer]


async def referral_stats(
    uow: UnitOfWork, period: Period, *, starts_at: datetime, ends_at: datetime, top: int
) -> ReferralStats:
    """The period's referral cohort (see the module's docstring); `top` referrers listed."""
    rows = await (await uow.driver()).fetch(_COHORT, starts_at, ends_at)
    found = [Referrer(row["referrer"], int(row["referred"]), int(row["converted"])) for row in rows]
    found.sort(key=lambda r: (-r.converted, -r.referred, r.member_id))
    converted = sum(r.converted for r in found)
    return ReferralStats(
        referrers=len(found),
        referred=sum(r.referred for r in found),
        converted=converted,
        coefficient=ratio(converted, len(found)) or Decimal("0.0000"),
        top=found[:top],
    )
