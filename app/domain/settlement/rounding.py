"""Whole cents that add up: largest-remainder rounding of exact (signed) amounts.

The total is the exact sum rounded half up to the cent (or a total given); each part gets the
floor of its exact amount in cents, and the cents still missing go one each to the parts with
the largest remainders (ties: the earlier part). So parts and total agree to the cent, and no
part is more than a cent from its exact amount.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def to_cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def share_cents(exact: list[Decimal], total: Decimal | None = None) -> list[Decimal]:
    """`exact` amounts as whole cents adding up to `total` (default: their sum, rounded)."""
    if not exact:
        return []
    target = int((to_cents(sum(exact, Decimal(0))) if total is None else total) / CENT)
    scaled = [value / CENT for value in exact]
    floors = [int(value.to_integral_value(rounding=ROUND_FLOOR)) for value in scaled]
    short = target - sum(floors)
    if not 0 <= short <= len(exact):
        raise ValueError(f"cannot share {target} cents over {exact}")
    order = sorted(range(len(exact)), key=lambda i: (-(scaled[i] - floors[i]), i))
    for i in order[:short]:
        floors[i] += 1
    return [Decimal(cents) * CENT for cents in floors]
