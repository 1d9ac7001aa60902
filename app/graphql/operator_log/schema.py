"""The operators' audit trail: `operatorActions`, newest first, for ops."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import strawberry
from strawberry import Info
from strawberry.scalars import JSON

from app.domain.shared.errors import DomainError
from app.domain.shared.operator_log import list_operator_actions
from app.graphql.core.errors import domain_graphql_error
from app.graphql.core.pagination import PageInfo, decode_cursor, encode_cursor, page_size
from app.graphql.core.permissions import IsOps

if TYPE_CHECKING:
    from app.models.operations import OperatorAction as OperatorActionModel


@strawberry.type(description="One change an operator made: who, what, on which object, why.")
class OperatorAction:
    id: strawberry.ID
    actor: str
    action: str = strawberry.field(description="What was done, e.g. tier.grant, campaign.create.")
    target_kind: str
    target_id: str
    reason: str | None
    detail: JSON
    created_at: datetime

    @classmethod
    def from_row(cls, row: OperatorActionModel) -> OperatorAction:
        return cls(
            id=strawberry.ID(str(row.id)),
            actor=row.actor,
            action=row.action,
            target_kind=row.target_kind,
            target_id=row.target_id,
            reason=row.reason,
            detail=row.detail,
            created_at=row.created_at,
        )


@strawberry.type
class OperatorActionEdge:
    cursor: str
    node: OperatorAction


@strawberry.type
class OperatorActionConnection:
    edges: list[OperatorActionEdge]
    page_info: PageInfo


@strawberry.type
class OperationsQuery:
    @strawberry.field(
        permission_classes=[IsOps],
        description="Ops: the audit trail of operator actions, newest first, optionally for one"
        " target (targetKind + targetId, e.g. member 42) or one actor.",
    )
    async def operator_actions(
        self,
        info: Info,
        target_kind: str | None = None,
        target_id: str | None = None,
        actor: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> OperatorActionConnection:
        try:
            limit = page_size(first)
            before = decode_cursor("op", after)
        except DomainError as error:
            raise domain_graphql_error(error) from None
        async with info.context.uow() as uow:
            rows = await list_operator_actions(
                uow,
                target_kind=target_kind,
                target_id=target_id,
                actor=actor,
                limit=limit + 1,
                before_id=before,
            )
        edges = [
            OperatorActionEdge(
                cursor=encode_cursor("op", row.id or 0), node=OperatorAction.from_row(row)
            )
            for row in rows[:limit]
        ]
        return OperatorActionConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(rows) > limit, end_cursor=edges[-1].cursor if edges else None
            ),
        )
