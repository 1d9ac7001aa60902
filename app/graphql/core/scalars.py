"""Scalars read as clients mean them: a Decimal is ASCII digits, a sign, a point, an exponent.

Python's `Decimal` also reads "١٠٠" and "１０" as 100 and 10, so an amount typed in another
script would be taken at face value; here it is refused as not a Decimal (a variable error).
"""

from __future__ import annotations

import dataclasses
import decimal
from typing import Any

from strawberry.schema.types.base_scalars import DecimalDefinition, wrap_parser
from strawberry.types.scalar import ScalarDefinition


def _ascii_decimal(text: str) -> decimal.Decimal:
    if not text.isascii():
        raise decimal.InvalidOperation("not ASCII")
    return decimal.Decimal(text)


ASCII_DECIMAL: ScalarDefinition = dataclasses.replace(
    DecimalDefinition,
    parse_value=wrap_parser(
        _ascii_decimal,
        "Decimal",
        exceptions=(decimal.DecimalException,),
        include_error=False,
        accept_non_string=True,
    ),
)

SCALAR_OVERRIDES: dict[object, Any] = {decimal.Decimal: ASCII_DECIMAL}
