"""What the till's answers are made of, for other contexts to show too."""

from __future__ import annotations

from typing import Any

import strawberry


@strawberry.type
class EarnBreakdownLine:
    kind: str = strawberry.field(description="BASE, TIER, CAMPAIGN or CAP (a limit's cut).")
    rule: str
    points: int
    detail: str
    campaign_id: strawberry.ID | None = strawberry.field(
        default=None, description="CAMPAIGN and CAP lines: the campaign."
    )
    funder: str | None = strawberry.field(
        default=None,
        description="CAMPAIGN and CAP lines: who pays, GROUP (marketing budget) or a unit code;"
        " BASE and TIER points are paid by the order's unit.",
    )

    @classmethod
    def from_dict(cls, line: dict[str, Any]) -> EarnBreakdownLine:
        campaign = line.get("campaign_id")
        return cls(
            kind=line["kind"],
            rule=line["rule"],
            points=line["points"],
            detail=line.get("detail", ""),
            campaign_id=strawberry.ID(str(campaign)) if campaign is not None else None,
            funder=line.get("funder"),
        )
