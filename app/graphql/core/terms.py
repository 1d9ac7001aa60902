"""An operator's catalogue input as the domain's spec fields: one translation for every
catalogue (rights, mall items) so create and update read their inputs alike."""

from __future__ import annotations

from dataclasses import fields
from enum import Enum
from typing import Any


def spec_terms(
    input: Any,
    spec: type,
    *,
    given_only: bool,
    unit: tuple[str, str],
    tuples: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The fields of `spec` that `input` carries (an update, `given_only`: only those it names),
    enums as their values, lists in `tuples` as tuples, and the unit input `unit[0]` as the
    spec's `unit[1]`."""
    names = {f.name for f in fields(spec)}
    values = {
        name: getattr(input, name)
        for name in vars(input)
        if name in names and (not given_only or getattr(input, name) is not None)
    }
    if getattr(input, unit[0], None) is not None:
        values[unit[1]] = getattr(input, unit[0])
    for name, value in values.items():
        if isinstance(value, Enum):
            values[name] = value.value
    for name in tuples:
        if name in values:
            values[name] = tuple(values[name] or ())
    return values
