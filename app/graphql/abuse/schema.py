"""Anti-abuse for operators: `abuseFlags` and `reviewAbuseFlag`."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

import strawberry
from strawberry import Info
from strawberry.scalars import JSON

from app.domain.abuse import review as abuse_review
from app.domain.abuse import screening as abuse
from app.domain.shared.errors import DomainError
from app.domain.shared.ids import parse_id
from app.graphql.core.errors import UserError, domain_graphql_error
from app.graphql.core.execution import execute
from app.graphql.core.pagination import PageInfo, decode_cursor, encode_cursor, page_size
from app.graphql.core.permissions import IsOps
from app.graphql.members.types import Member, load_member

if TYPE_CHECKING:
    from app.models import AbuseFlag as AbuseFlagModel

log = logging.getLogger(__name__)

AbuseFlagKind = strawberry.enum(abuse.FlagKind, name="AbuseFlagKind")
AbuseFlagStatus = strawberry.enum(abuse.FlagStatus, name="AbuseFlagStatus")
AbuseDecision = strawberry.enum(abuse_review.Decision, name="AbuseDecision")


@strawberry.type(description="A suspicious pattern at the tills, for operators to review.")
class AbuseFlag:
    id: strawberry.ID
    kind: AbuseFlagKind  # type: ignore[valid-type]
    status: AbuseFlagStatus  # type: ignore[valid-type]
    member_id: strawberry.ID | None
    device_id: str | None
    business_unit_id: strawberry.ID | None
    detail: JSON = strawberry.field(
        description="What was seen: events (how often), limits, refunded order, members..."
    )
    created_at: datetime
    updated_at: datetime = strawberry.field(description="The last time the pattern was seen.")
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_note: str | None

    @classmethod
    def from_row(cls, row: AbuseFlagModel) -> AbuseFlag:
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=abuse.FlagKind(row.kind),
            status=abuse.FlagStatus(row.status),
            member_id=strawberry.ID(str(row.member_id)) if row.member_id else None,
            device_id=row.device_id,
            business_unit_id=strawberry.ID(str(row.unit_id)) if row.unit_id else None,
            detail=row.detail,
            created_at=row.created_at,
            updated_at=row.updated_at,
            reviewed_by=row.reviewed_by,
            reviewed_at=row.reviewed_at,
            review_note=row.review_note,
        )


@strawberry.type
class AbuseFlagEdge:
    cursor: str
    node: AbuseFlag


@strawberry.type
class AbuseFlagConnection:
    edges: list[AbuseFlagEdge]
    page_info: PageInfo


@strawberry.type
class AbuseQuery:
    @strawberry.field(
        permission_classes=[IsOps],
        description="Ops: anti-abuse flags, newest first, by status, kind and member.",
    )
    async def abuse_flags(
        self,
        info: Info,
        status: AbuseFlagStatus | None = None,  # type: ignore[valid-type]
        kind: AbuseFlagKind | None = None,  # type: ignore[valid-type]
        member_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> AbuseFlagConnection:
        try:
            limit = page_size(first)
            before = decode_cursor("flag", after)
        except DomainError as error:
            raise domain_graphql_error(error) from None
        member = str(member_id).strip() if member_id is not None else None
        if member is not None and parse_id(member) is None:
            return AbuseFlagConnection(
                edges=[], page_info=PageInfo(has_next_page=False, end_cursor=None)
            )
        async with info.context.uow() as uow:
            rows = await abuse_review.list_flags(
                uow,
                status=status.value if status else None,
                kind=kind.value if kind else None,
                member_id=int(member) if member is not None else None,
                limit=limit + 1,
                before_id=before,
            )
        edges = [
            AbuseFlagEdge(cursor=encode_cursor("flag", row.id or 0), node=AbuseFlag.from_row(row))
            for row in rows[:limit]
        ]
        return AbuseFlagConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(rows) > limit, end_cursor=edges[-1].cursor if edges else None
            ),
        )


@strawberry.input
class ReviewAbuseFlagInput:
    flag_id: strawberry.ID
    decision: AbuseDecision = strawberry.field(  # type: ignore[valid-type]
        description="CLEAR: a false alarm (held points are released). CONFIRM: abuse (held"
        " points are taken back)."
    )
    note: str = strawberry.field(description="Why (1-200 characters); kept in the audit trail.")
    idempotency_key: str | None = None


@strawberry.type
class ReviewAbuseFlagPayload:
    flag: AbuseFlag | None = None
    replayed: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)

    @strawberry.field(
        description="The flagged member as they are now: clearing a flag releases the points it"
        " held and confirming one takes them back, so a normalised client cache updates"
        " `Member:<id>` from it. Null for a flag on no member, or when nothing changed."
    )
    async def member(self, info: Info) -> Member | None:
        if self.flag is None or self.flag.member_id is None:
            return None
        return await load_member(info, int(self.flag.member_id))


@strawberry.type
class AbuseMutation:
    @strawberry.mutation(
        permission_classes=[IsOps],
        description="Ops: clear or confirm an open abuse flag (audited).",
    )
    async def review_abuse_flag(
        self, info: Info, input: ReviewAbuseFlagInput
    ) -> ReviewAbuseFlagPayload:
        ctx = info.context

        async def effect(uow):
            flag = await abuse_review.review_flag(
                uow,
                flag_id=input.flag_id,
                decision=input.decision.value,
                note=input.note,
                actor=ctx.principal.caller,
            )
            return {"flag_id": flag.id}

        result, errors = await execute(
            ctx,
            operation="reviewAbuseFlag",
            effect=effect,
            idempotency_key=input.idempotency_key,
            payload={
                "flag_id": str(input.flag_id),
                "decision": input.decision.value,
                "note": input.note,
            },
        )
        if errors:
            return ReviewAbuseFlagPayload(errors=errors)
        async with ctx.uow() as uow:
            row = await abuse_review.get_flag(uow, result["flag_id"])
        return ReviewAbuseFlagPayload(
            flag=AbuseFlag.from_row(row), replayed=result.get("replayed", False)
        )
