"""Decimal CNY: validation, quantisation and largest-remainder allocation."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal, InvalidOperation

from app.domain.shared.errors import DomainError, ErrorCode

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("100000000")


def parse_amount(value: Decimal | str | int, field: str) -> Decimal:
    """A positive CNY amount with at most two decimals, or INVALID_INPUT."""
    try:
        text = str(value)
        if not text.isascii():  # Decimal reads "١٠٠" as 100: not what a till sends
            raise ValueError(text)
        amount = Decimal(text)
    except (InvalidOperation, ValueError):
        raise DomainError(ErrorCode.INVALID_INPUT, "amount is not a number", field) from None
    if not amount.is_finite():
        raise DomainError(ErrorCode.INVALID_INPUT, "amount is not a number", field)
    if amount <= 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "amount must be greater than zero", field)
    if amount >= MAX_AMOUNT:  # checked first: quantizing a huge amount overflows the context
        raise DomainError(ErrorCode.INVALID_INPUT, "amount is too large", field)
    if amount.as_tuple().exponent < -2 and amount != amount.quantize(CENT):  # type: ignore[operator]
        raise DomainError(ErrorCode.INVALID_INPUT, "amount has more than two decimals", field)
    return amount.quantize(CENT)


def cents_down(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_DOWN)


def allocate_largest_remainder(total: Decimal, weights: list[int]) -> list[Decimal]:
    """Split `total` (in cents) over `weights` so the parts add up exactly."""
    if not weights:
        return []
    cents = int((total / CENT).to_integral_value())
    weight_sum = sum(weights)
    if weight_sum == 0:
        raise ValueError("weights sum to zero")
    exact = [Decimal(cents) * w / weight_sum for w in weights]
    floors = [int(x.to_integral_value(rounding=ROUND_DOWN)) for x in exact]
    short = cents - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:short]:
        floors[i] += 1
    return [Decimal(c) * CENT for c in floors]
