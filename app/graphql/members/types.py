"""Members as GraphQL shows them. Hot leaf fields are plain attributes; related data comes
through the request's loaders and the types of the contexts it belongs to."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import Info

from app.domain.access.acts import transactions_seen_at
from app.domain.members.dynamic_codes import issue_code
from app.domain.members.identity import mask_phone
from app.domain.shared.errors import DomainError
from app.graphql.core.errors import domain_graphql_error, forbidden
from app.graphql.core.loaders import NOT_HELD
from app.graphql.core.pagination import PageInfo, decode_cursor, encode_cursor, page_size
from app.graphql.ledger.types import (
    PointsBalance,
    PointsTransaction,
    PointsTransactionConnection,
    PointsTransactionEdge,
    balance_of,
    load_balance,
)
from app.graphql.organisation.types import BusinessUnit, unit_now
from app.graphql.rights.types import MemberRight, RightStatus, load_wallet
from app.graphql.tiers.types import MemberTier, TierChange, load_member_tier, load_tier_history

if TYPE_CHECKING:
    from app.graphql.core.rows import MemberRow
    from app.graphql.formats.types import FormatActivityConnection, MemberOverview
    from app.graphql.mall.types import MallOrderConnection
    from app.models import Member as MemberModel


@strawberry.type
class DynamicCode:
    code: str
    expires_at: datetime


@strawberry.type
class Member:
    id: strawberry.ID
    display_name: str
    birthday: date | None
    registered_at: datetime
    phone_masked: str
    registered_via_id: strawberry.Private[int]
    code_for_referrals: strawberry.Private[str]

    @classmethod
    def from_row(cls, row: MemberRow | MemberModel) -> Member:
        return cls(
            id=strawberry.ID(str(row.id)),
            display_name=row.display_name,
            birthday=row.birthday,
            registered_at=row.registered_at,
            phone_masked=mask_phone(row.phone),
            registered_via_id=row.registered_via_unit_id,
            code_for_referrals=row.referral_code,
        )

    @strawberry.field(
        description="The code the member gives to friends who register (referral reward); the"
        " member and operators see it, partner apps get null: a format's staff holding other"
        " members' codes could register sham referrals."
    )
    def referral_code(self, info: Info) -> str | None:
        principal = info.context.principal
        return None if principal is None or principal.is_partner else self.code_for_referrals

    @property
    def member_id(self) -> int:
        return int(self.id)

    @strawberry.field(graphql_type=BusinessUnit)
    def registered_via(self, info: Info) -> BusinessUnit | Awaitable[Any] | None:
        return unit_now(info, self.registered_via_id)  # members always have one

    @strawberry.field(graphql_type=PointsBalance)
    def points(self, info: Info) -> PointsBalance | Awaitable[PointsBalance]:
        """At once when the balance came with the member (`me`, `member`), else loaded."""
        row = info.context.loaders.balance.held(self.member_id)
        if row is NOT_HELD:
            return load_balance(info, self.member_id)
        return balance_of(self.member_id, row)

    @strawberry.field(description="Current tier, growth value and what the next tier needs.")
    async def tier(self, info: Info) -> MemberTier:
        return await load_member_tier(info, self.member_id)

    @strawberry.field(description="Tier changes and renewals with their reasons, newest first.")
    async def tier_history(self, info: Info) -> list[TierChange]:
        return await load_tier_history(info, self.member_id)

    @strawberry.field(
        description="The member's points transactions, newest first; keyset cursor; `first` at"
        " most 100. A partner key sees only its own unit's (the mall's key includes its"
        " merchants'); the member and operators see every unit's."
    )
    async def transactions(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
    ) -> PointsTransactionConnection:
        try:
            limit = page_size(first)
            before = decode_cursor("tx", after)
        except DomainError as error:
            raise domain_graphql_error(error) from None
        at_unit = transactions_seen_at(info.context.principal)  # a partner: its own unit's
        rows = await info.context.loaders.transactions.load(
            (self.member_id, limit + 1, before, at_unit)
        )
        page = rows[:limit]
        edges = [
            PointsTransactionEdge(
                cursor=encode_cursor("tx", row.id), node=PointsTransaction.from_row(row)
            )
            for row in page
        ]
        return PointsTransactionConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(rows) > limit,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )

    @strawberry.field(
        description="Activity at the formats (stays, parking, receipts, bills, orders), newest "
        "first: one unit (id or code) or every unit the caller may see; null with a "
        "SOURCE_UNAVAILABLE error when a unit's source fails."
    )
    async def activity(
        self,
        info: Info,
        business_unit_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Annotated[FormatActivityConnection, strawberry.lazy("app.graphql.formats.types")] | None:
        from app.graphql.formats.types import member_format_activity

        return await member_format_activity(
            info, self.member_id, business_unit_id=business_unit_id, first=first, after=after
        )

    @strawberry.field(description="The member 360 view: points, tier, and each format's figures.")
    async def overview(
        self, info: Info
    ) -> Annotated[MemberOverview, strawberry.lazy("app.graphql.formats.types")]:
        from app.graphql.formats.types import member_overview

        return await member_overview(info, self.member_id)

    @strawberry.field(description="The member's wallet of rights, newest first; by status.")
    async def rights(
        self,
        info: Info,
        status: RightStatus | None = None,  # type: ignore[valid-type]
    ) -> list[MemberRight]:
        return await load_wallet(info, self.member_id, status.value if status else None)

    @strawberry.field(description="The member's mall orders, newest first; `first` at most 100.")
    async def mall_orders(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Annotated[MallOrderConnection, strawberry.lazy("app.graphql.mall.types")]:
        from app.graphql.mall.types import load_mall_orders

        try:
            limit, before = page_size(first), decode_cursor("mallOrder", after)
        except DomainError as error:
            raise domain_graphql_error(error) from None
        return await load_mall_orders(info, self.member_id, limit, before)

    @strawberry.field(description="Member only: a code valid for about a minute, for the till.")
    async def dynamic_code(self, info: Info) -> DynamicCode:
        principal = info.context.principal
        if principal is None or not principal.is_member or principal.member_id != self.member_id:
            raise forbidden("Only the member may show their code.")
        code, expires_at = await issue_code(
            info.context.redis,
            prefix=info.context.settings.redis_prefix,
            member_id=self.member_id,
            now=info.context.now(),
            ttl_seconds=info.context.settings.dynamic_code_ttl_seconds,
        )
        return DynamicCode(code=code, expires_at=expires_at)


async def load_member(info: Info, member_id: int | None) -> Member | None:
    """The member as this request sees them now (after a mutation, with its committed balance:
    app.graphql.core.execution.remember_committed primed it)."""
    if member_id is None:
        return None
    row = await info.context.loaders.member.load(member_id)
    return Member.from_row(row) if row is not None else None


async def _member_of_balance(root: Any, info: Info) -> Member | None:
    balance = getattr(root, "balance", None)
    return None if balance is None else await load_member(info, balance.member_id)


CHANGED_MEMBER_HELP = (
    "The member whose points this changed, as they are now (`points` included): a normalised"
    " client cache (Apollo, urql) updates `Member:<id>` from it. Null when nothing changed."
)


def changed_member_field() -> Any:
    """`member` on the payload of a mutation that moves a member's points: the member of its
    `balance`, so a client's cached member is right without another query."""
    return strawberry.field(resolver=_member_of_balance, description=CHANGED_MEMBER_HELP)


@strawberry.type
class MemberEdge:
    cursor: str
    node: Member


@strawberry.type
class MemberConnection:
    edges: list[MemberEdge]
    page_info: PageInfo
