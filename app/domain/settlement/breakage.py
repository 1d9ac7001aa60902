"""Breakage recognised in a period, per funder (IFRS 15 B46 / CAS 14): in proportion to
redemptions when the group can estimate it, otherwise on expiry (pure: no database here).

Without a rate (the terms' `breakage_rate` None) the points that expired in the period are its
breakage, at the group's clearing price: recognised on expiry.

With a rate b in force (the share of points issued expected never to be redeemed), every
point redeemed means b / (1 - b) points expected to lapse, so each redemption recognises,
beside the liability it releases, breakage of redeemed value x b / (1 - b): the **estimate**.
What is recognised so, ahead of the points' expiry, is the funder's **advance**: breakage
recognised on points still outstanding, carried from period to period (the stored statement's
`breakage_advance_amount`) and netted from its contract liability. Then, per funder:

- the period's estimate adds to the advance it opened with;
- points expiring are breakage for certain; what of their value the advance already
  recognised is not recognised again: expiry recognises only the rest (the **true-up**), and
  the advance shrinks by what it covered;
- the advance never exceeds the value of the points still outstanding (the most that can
  still go unredeemed): an estimate that turned out too high is reversed down to it;
- a negative estimate (more redemptions given back than made) gives back advance, never
  below zero.

So breakage recognised = expired value + (advance at the end - advance at the start), and
deferred - released - taken back - breakage = outstanding value - advance: the contract
liability, to the cent. Amounts are whole cents: the estimates and the expired values shared
over the funders by largest remainder (app.domain.settlement.rounding); the rest are sums and
differences of cents.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from app.domain.settlement.rounding import share_cents, to_cents

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Recognised:
    """A funder's breakage in a period: `estimated` in proportion to its redemptions, `total`
    recognised (the estimate plus expiry's true-up), `advance` recognised on its points still
    outstanding at the period's end."""

    estimated: Decimal = ZERO
    total: Decimal = ZERO
    advance: Decimal = ZERO


def recognise(
    funders: list[int],
    *,
    redeemed: dict[int, int],
    expired: dict[int, int],
    outstanding: dict[int, int],
    opening: dict[int, Decimal],
    price: Decimal,
    rate: Decimal | None,
) -> dict[int, Recognised]:
    """Per funder: its points redeemed (net of reversals), expired and outstanding at the end
    of the period, and its advance at the start (see the module's docstring)."""
    factor = Decimal(0) if rate is None else rate / (1 - rate)
    estimates = dict(
        zip(
            funders,
            share_cents([redeemed.get(f, 0) * price * factor for f in funders]),
            strict=True,
        )
    )
    expired_values = dict(
        zip(funders, share_cents([expired.get(f, 0) * price for f in funders]), strict=True)
    )
    result = {}
    for f in funders:
        opened = opening.get(f, ZERO)
        ahead = opened + estimates[f]
        covered = min(max(ahead, ZERO), expired_values[f])  # expiry recognises only the rest
        cap = max(to_cents(outstanding.get(f, 0) * price), ZERO)
        advance = min(max(ahead - covered, ZERO), cap)
        result[f] = Recognised(
            estimated=estimates[f],
            total=expired_values[f] + advance - opened,
            advance=advance,
        )
    return result
