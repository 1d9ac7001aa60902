"""The lines an order's points are made of (base, tier, each campaign, each cap that cut one).

Stored on the earn transaction as `detail["breakdown"]`; `campaign_id` and `funder` are stored
only on campaign and cap lines (base and tier points are funded by the order's unit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BreakdownLine:
    kind: str  # BASE, TIER, CAMPAIGN, CAP
    rule: str
    points: int
    detail: str = ""
    campaign_id: int | None = None
    funder: str | None = None  # GROUP (the group's marketing budget) or the funding unit's code

    def as_dict(self) -> dict[str, Any]:
        """The stored form: the four core keys, and the campaign keys when they are set."""
        return {key: value for key, value in vars(self).items() if value is not None}


@dataclass(frozen=True)
class Bonus:
    """Points one campaign adds to an order, net of its caps: they go into a lot of their own,
    funded by `funder_unit_id` (None: the group's marketing budget)."""

    campaign_id: int | None  # None: the order's own points (base + tier)
    funder_unit_id: int | None
    points: int
