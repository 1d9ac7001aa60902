"""Member queries (me, member, memberByCode, members) and registerMember."""

from __future__ import annotations

from datetime import date

import strawberry
from strawberry import Info

from app.domain.access.acts import authorise
from app.domain.members import identity as member_rules
from app.domain.members.dynamic_codes import resolve_code
from app.domain.shared.errors import DomainError, ErrorCode, PermissionDenied
from app.domain.shared.ids import parse_id
from app.domain.shared.units import find_unit
from app.graphql.core.errors import UserError, domain_graphql_error, forbidden
from app.graphql.core.execution import execute
from app.graphql.core.pagination import PageInfo, decode_cursor, encode_cursor, page_size
from app.graphql.core.permissions import (
    CanReadMembers,
    CanRegister,
    CanResolveCodes,
    IsMember,
    IsOps,
)
from app.graphql.core.rows import MemberRow
from app.graphql.members.types import Member, MemberConnection, MemberEdge
from app.platform import reads


@strawberry.type
class MemberQuery:
    @strawberry.field(permission_classes=[IsMember], description="The calling member.")
    async def me(self, info: Info) -> Member | None:
        row = await info.context.loaders.member.load(info.context.principal.member_id)
        return Member.from_row(row) if row else None

    @strawberry.field(
        permission_classes=[CanReadMembers],
        description="Ops: any member. A partner: a member presented to its unit. A member: self.",
    )
    async def member(self, info: Info, id: strawberry.ID) -> Member | None:
        member_id = parse_id(id)
        if member_id is None:
            return None
        try:
            async with info.context.uow() as uow:
                await authorise(uow, info.context.principal, member_id=member_id)
        except PermissionDenied as error:
            raise forbidden(str(error)) from None
        except DomainError:
            return None  # an operator asking for a member who does not exist
        row = await info.context.loaders.member.load(member_id)
        return Member.from_row(row) if row else None

    @strawberry.field(
        permission_classes=[CanResolveCodes],
        description="Partner till: the member behind a scanned code (links them to the unit).",
    )
    async def member_by_code(self, info: Info, code: str) -> Member | None:
        ctx = info.context
        try:
            member_id = await resolve_code(ctx.redis, prefix=ctx.settings.redis_prefix, code=code)
            if not ctx.principal.is_partner:  # ops: a plain read
                found = await ctx.loaders.member.load(member_id)
                if found is None:
                    raise member_rules.no_member(member_id)
                return Member.from_row(found)
            async with reads.pooled(ctx.loaders.engine) as driver:
                record = await member_rules.present_member(
                    driver,
                    member_id=member_id,
                    unit_id=ctx.principal.unit_id,
                    via="CODE",
                    at=ctx.now(),
                )
        except DomainError as error:
            raise domain_graphql_error(error) from None
        row = MemberRow(**record)  # by column name
        ctx.loaders.member.prime(member_id, row)
        return Member.from_row(row)

    @strawberry.field(
        permission_classes=[CanResolveCodes],
        description="Partner: the member its own system knows by this customer id.",
    )
    async def member_by_external_id(
        self, info: Info, external_id: str, business_unit_id: strawberry.ID | None = None
    ) -> Member | None:
        ctx = info.context
        try:
            async with ctx.uow() as uow:
                if ctx.principal.is_partner:
                    unit_id = ctx.principal.unit_id
                elif business_unit_id is None:
                    raise DomainError(
                        ErrorCode.INVALID_INPUT,
                        "operators must name the business unit",
                        "businessUnitId",
                    )
                else:
                    unit_id = (await find_unit(uow, business_unit_id)).id
                row = await member_rules.member_by_external_id(
                    uow, unit_id=unit_id, external_id=external_id
                )
        except DomainError as error:
            raise domain_graphql_error(error) from None
        return Member.from_row(row)

    @strawberry.field(
        permission_classes=[IsOps], description="Ops: members by id, optionally searched."
    )
    async def members(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        search: str | None = None,
    ) -> MemberConnection:
        try:
            limit = page_size(first)
            after_id = decode_cursor("member", after)
        except DomainError as error:
            raise domain_graphql_error(error) from None
        async with info.context.uow() as uow:
            rows = await member_rules.list_members(
                uow, limit=limit + 1, after_id=after_id, search=search
            )
        edges = [
            MemberEdge(cursor=encode_cursor("member", row.id), node=Member.from_row(row))
            for row in rows[:limit]
        ]
        return MemberConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(rows) > limit, end_cursor=edges[-1].cursor if edges else None
            ),
        )


@strawberry.input
class RegisterMemberInput:
    phone: str
    display_name: str
    business_unit_id: strawberry.ID = strawberry.field(description="Id or code, e.g. MALL.")
    birthday: date | None = None
    referral_code: str | None = None
    external_id: str | None = strawberry.field(
        default=None, description="The unit's own customer id for this member."
    )
    idempotency_key: str | None = None
    device_id: str | None = strawberry.field(
        default=None, description="The device registering (anti-abuse: members per device)."
    )


@strawberry.type
class RegisterMemberPayload:
    member: Member | None
    replayed: bool = strawberry.field(
        default=False,
        description="True when this answers a retry: the member was registered by the first"
        " request with this `idempotencyKey`, and this one changed nothing.",
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class MemberMutation:
    @strawberry.mutation(
        permission_classes=[CanRegister],
        description="Partner (for its own unit) or ops: register a member.",
    )
    async def register_member(
        self, info: Info, input: RegisterMemberInput
    ) -> RegisterMemberPayload:
        ctx = info.context

        async def effect(uow):
            unit = await find_unit(uow, input.business_unit_id)
            await authorise(uow, ctx.principal, unit_id=unit.id)
            member = await member_rules.register_member(
                uow,
                phone=input.phone,
                display_name=input.display_name,
                business_unit=unit.id,
                birthday=input.birthday,
                referral_code=input.referral_code,
                external_id=input.external_id,
                device_id=input.device_id,
                screen=ctx.services.earn_screen(),
            )
            return {"member_id": member.id}

        result, errors = await execute(
            ctx,
            operation="registerMember",
            effect=effect,
            idempotency_key=input.idempotency_key,
            payload=strawberry.asdict(input) if input.idempotency_key else None,
        )
        if errors:
            return RegisterMemberPayload(member=None, errors=errors)
        row = await ctx.loaders.member.load(result["member_id"])
        return RegisterMemberPayload(
            member=Member.from_row(row), replayed=result.get("replayed", False), errors=[]
        )
