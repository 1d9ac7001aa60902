"""Figures (数据通): programmeFigures for the group or a unit (ops, finance; a unit's key
with the read scope its own unit), formatOverlap, memberSegments, referralStats and
expiringPoints (ops and finance). Members and other keys: FORBIDDEN. All but expiringPoints
read the summary tables the refresh-figures job keeps (docs/figures.md)."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry import Info

from app.domain.access.principals import Principal
from app.domain.figures import audience, expiring, referrals
from app.domain.figures.access import check_group_figures, check_unit_figures, is_figures_reader
from app.domain.figures.periods import parse_period
from app.domain.figures.programme import CostBand, programme_figures
from app.domain.shared.errors import DomainError, ErrorCode, PermissionDenied
from app.domain.shared.units import find_unit, list_units
from app.graphql.core.errors import domain_graphql_error, forbidden
from app.graphql.core.pagination import PageInfo, decode_cursor, encode_cursor
from app.graphql.core.permissions import Forbidding
from app.graphql.figures.types import (
    ExpiringDay,
    ExpiringMember,
    ExpiringMemberConnection,
    ExpiringMemberEdge,
    OverlapCell,
    ProgramFigures,
    ReferralStats,
    Segment,
    TopReferrer,
)

CURSOR = "expiring-member"
MAX_TOP = 100


class CanReadFigures(Forbidding):
    """Ops, finance, or a partner key with the read scope (which unit: in the domain)."""

    message = "Figures are for operators, finance and a unit's read key."

    def allows(self, principal: Principal) -> bool:
        return is_figures_reader(principal)


async def _guarded(info: Info, read: Any) -> Any:
    """Run `read(uow)` in one unit of work: PermissionDenied is FORBIDDEN, a DomainError its
    code (INVALID_INPUT for a bad period, window or page)."""
    try:
        async with info.context.uow() as uow:
            return await read(uow)
    except PermissionDenied as error:
        raise forbidden(str(error)) from None
    except DomainError as error:
        raise domain_graphql_error(error) from None


@strawberry.type
class FiguresQuery:
    @strawberry.field(
        permission_classes=[CanReadFigures],
        description='A period\'s figures ("2026-11" or "2026", group time zone): the group, or '
        "one unit (id or code). A unit's read key: its own unit only.",
    )
    async def program_figures(
        self, info: Info, period: str, business_unit_id: strawberry.ID | None = None
    ) -> ProgramFigures:
        settings = info.context.services.settings
        band = CostBand(low=settings.figures_cost_share_low, high=settings.figures_cost_share_high)

        async def read(uow):
            parsed = parse_period(period)
            unit_id = None
            if business_unit_id is not None:
                unit_id = (await find_unit(uow, business_unit_id)).id
            check_unit_figures(info.context.principal, unit_id)
            return await programme_figures(uow, parsed, unit_id=unit_id, band=band)

        return ProgramFigures.of(await _guarded(info, read))

    @strawberry.field(
        permission_classes=[CanReadFigures],
        description="Every pair of units with the members active at both in the period.",
    )
    async def format_overlap(self, info: Info, period: str) -> list[OverlapCell]:
        async def read(uow):
            check_group_figures(info.context.principal)
            units = [unit.id for unit in await list_units(uow)]
            return await audience.format_overlap(uow, parse_period(period), units)

        cells = await _guarded(info, read)
        return [
            OverlapCell(unit_a_id=c.unit_a, unit_b_id=c.unit_b, members=c.members) for c in cells
        ]

    @strawberry.field(
        permission_classes=[CanReadFigures],
        description="RFM segments over the 12 months ending with the period, all formats.",
    )
    async def member_segments(self, info: Info, period: str) -> list[Segment]:
        async def read(uow):
            check_group_figures(info.context.principal)
            return await audience.member_segments(uow, parse_period(period))

        counts = await _guarded(info, read)
        return [Segment(segment=c.segment, members=c.members, share=c.share) for c in counts]

    @strawberry.field(
        permission_classes=[CanReadFigures],
        description="The referral coefficient of the period's cohort and its top referrers.",
    )
    async def referral_stats(self, info: Info, period: str, top: int = 10) -> ReferralStats:
        tz = info.context.services.settings.tz

        async def read(uow):
            check_group_figures(info.context.principal)
            parsed = parse_period(period)
            if not 0 <= top <= MAX_TOP:
                raise DomainError(ErrorCode.INVALID_INPUT, f"top must be 0-{MAX_TOP}", "top")
            return parsed, await referrals.referral_stats(
                uow, parsed, starts_at=parsed.starts_at(tz), ends_at=parsed.ends_at(tz), top=top
            )

        parsed, stats = await _guarded(info, read)
        return ReferralStats(
            period=parsed.label,
            coefficient=stats.coefficient,
            referrers=stats.referrers,
            referred=stats.referred,
            converted=stats.converted,
            top_referrers=[
                TopReferrer(member_id=r.member_id, referred=r.referred, converted=r.converted)
                for r in stats.top
            ],
        )

    @strawberry.field(
        permission_classes=[CanReadFigures],
        description="Members whose points expire within withinDays (1-366), by member id; "
        "`first` at most 100. For the reminder service.",
    )
    async def expiring_points(
        self,
        info: Info,
        within_days: int,
        first: int | None = None,
        after: str | None = None,
    ) -> ExpiringMemberConnection:
        async def read(uow):
            check_group_figures(info.context.principal)
            limit = expiring.check_window(within_days, first)
            after_member = decode_cursor(CURSOR, after) or 0
            found = await expiring.expiring_points(
                uow, within_days=within_days, limit=limit + 1, after_member=after_member
            )
            return limit, found

        limit, found = await _guarded(info, read)
        edges = [
            ExpiringMemberEdge(
                cursor=encode_cursor(CURSOR, item.member_id),
                node=ExpiringMember(
                    member_id=item.member_id,
                    points=item.points,
                    first_expires_at=item.first_expires_at,
                    days=[ExpiringDay(expires_on=day, points=points) for day, points in item.days],
                ),
            )
            for item in found[:limit]
        ]
        return ExpiringMemberConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(found) > limit, end_cursor=edges[-1].cursor if edges else None
            ),
        )
