"""The ledger's vocabulary and its pure rules: accounts, entry kinds, lot states, and how
postings balance and how new points pay off debt. No database here.

Every movement of points is one `PointsTransaction` whose `Posting`s sum to zero. Accounts are
(kind, owner): a member's available and pending points, the points a unit (or the group,
owner 0) has issued, the points redeemed at a unit, and breakage per funder.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from app.models import PointsLot

GROUP = 0  # the owner of the group's own accounts (its marketing budget funds points)


class Account(StrEnum):
    MEMBER_AVAILABLE = "MEMBER_AVAILABLE"
    MEMBER_PENDING = "MEMBER_PENDING"
    ISSUED = "ISSUED"
    REDEEMED = "REDEEMED"
    BREAKAGE = "BREAKAGE"


class TxKind(StrEnum):
    EARN = "EARN"
    SPEND = "SPEND"
    EARN_REVERSAL = "EARN_REVERSAL"
    SPEND_REVERSAL = "SPEND_REVERSAL"
    EXPIRY = "EXPIRY"
    RELEASE = "RELEASE"
    ACTIVITY = "ACTIVITY"  # non-purchase reward: check-in, registration, referral, birthday
    RIGHT_PURCHASE = "RIGHT_PURCHASE"  # points redeemed for a right (app.domain.rights)
    RIGHT_REFUND = "RIGHT_REFUND"  # a bought right returned: its points back to their lots
    MALL_ORDER = "MALL_ORDER"  # points redeemed for a mall order (app.domain.mall)
    MALL_CANCEL = "MALL_CANCEL"  # a cancelled or expired mall order: its points back
    LOTTERY_DRAW = "LOTTERY_DRAW"  # points a lottery draw costs
    LOTTERY_PRIZE = "LOTTERY_PRIZE"  # points won, funded by the group's marketing budget
    REWARD_REVERSAL = "REWARD_REVERSAL"  # a referral reward taken back: its purchase refunded


class LotState(StrEnum):
    PENDING = "PENDING"
    AVAILABLE = "AVAILABLE"


class AllocationKind(StrEnum):
    SPEND = "SPEND"
    EXPIRY = "EXPIRY"
    REFUND = "REFUND"
    DEBT = "DEBT"
    RESTORE = "RESTORE"


Leg = tuple[Account, int, int]  # (account, owner, points)


def member_account(state: str) -> Account:
    return Account.MEMBER_PENDING if state == LotState.PENDING else Account.MEMBER_AVAILABLE


def funder_account(funder_unit_id: int | None) -> int:
    """The owner of an ISSUED / BREAKAGE account: the funding unit, or GROUP (marketing)."""
    return funder_unit_id if funder_unit_id is not None else GROUP


def funder_of(lot: PointsLot) -> int:
    return funder_account(lot.funder_unit_id)


def balanced(legs: Iterable[Leg]) -> dict[tuple[Account, int], int]:
    """The legs merged per account; refuses legs that do not sum to zero."""
    merged: dict[tuple[Account, int], int] = {}
    for account, owner, points in legs:
        merged[(account, owner)] = merged.get((account, owner), 0) + points
    if sum(merged.values()) != 0:
        raise AssertionError(f"unbalanced postings {merged}")
    return merged


def debt_payments(debt: int, lots: Iterable[PointsLot]) -> list[tuple[PointsLot, int]]:
    """What each lot pays of `debt`, in the lots' order: available points, until it is paid.

    Debt is a whole number of points, never negative: a negative one would "pay" negative
    amounts, i.e. mint points into the lots, so it is refused as a broken invariant."""
    if isinstance(debt, bool) or not isinstance(debt, int) or debt < 0:
        raise AssertionError(f"debt is a whole number of points, not {debt!r}")
    payments = []
    for lot in lots:
        if debt == 0:
            break
        if lot.state != LotState.AVAILABLE or lot.remaining == 0:
            continue
        paid = min(debt, lot.remaining)
        payments.append((lot, paid))
        debt -= paid
    return payments
