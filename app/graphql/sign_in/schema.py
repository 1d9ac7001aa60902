"""Sign-in: signInWithWeChat, refreshSession and signOut (anyone: the code or refresh token is
the credential), mySessions and endSession (a member; ops end any), unbindWeChat (ops)."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry import Info

from app.domain.members import sessions as session_rules
from app.domain.members.wechat import sign_in_with_wechat, unbind_wechat
from app.graphql.core.execution import execute, execute_steps
from app.graphql.core.permissions import Forbidding, IsMember, IsOps
from app.graphql.members.types import Member
from app.graphql.sign_in.types import (
    EndSessionPayload,
    MemberSession,
    RefreshSessionPayload,
    SignInPayload,
    SignOutPayload,
    UnbindWeChatPayload,
)


class CanEndSessions(Forbidding):
    """A member ends their own sessions; ops end anyone's."""

    def allows(self, principal: Any) -> bool:
        return principal.is_member or principal.has_role("ops")


@strawberry.input
class SignInWithWeChatInput:
    code: str = strawberry.field(description="From wx.login (single use, valid 5 minutes).")
    phone_code: str | None = strawberry.field(
        default=None,
        description="From the phone-number button; needed when PHONE_REQUIRED was answered.",
    )
    referral_code: str | None = strawberry.field(
        default=None, description="A referrer's code, for a member registering now."
    )
    device_id: str | None = strawberry.field(
        default=None, description="The device signing in (rate limits, members per device)."
    )


@strawberry.input
class RefreshSessionInput:
    refresh_token: str


@strawberry.input
class SignOutInput:
    refresh_token: str


@strawberry.input
class EndSessionInput:
    session_id: strawberry.ID


@strawberry.input
class UnbindWeChatInput:
    member_id: strawberry.ID
    reason: str


@strawberry.type
class SignInQuery:
    @strawberry.field(
        permission_classes=[IsMember],
        description="The calling member's live sessions, newest first (at most 100).",
    )
    async def my_sessions(self, info: Info) -> list[MemberSession]:
        ctx = info.context
        async with ctx.uow() as uow:
            rows = await session_rules.live_sessions(uow, member_id=ctx.principal.member_id)
        return [MemberSession.from_model(row, ctx.principal.session_id) for row in rows]


@strawberry.type
class SignInMutation:
    @strawberry.mutation(
        description="Sign a member in with the mini-program's wx.login code (and, the first "
        "time, the phone-number button's code): tokens, the member, and whether it is new."
    )
    async def sign_in_with_we_chat(self, info: Info, input: SignInWithWeChatInput) -> SignInPayload:
        ctx = info.context

        async def work():
            return await sign_in_with_wechat(
                ctx.uow,
                ctx.services.wechat,
                ctx.settings,
                now=ctx.now(),
                code=input.code,
                phone_code=input.phone_code,
                referral_code=input.referral_code,
                device_id=input.device_id,
                screen=ctx.services.earn_screen(),
            )

        signed, errors = await execute_steps(ctx, work)
        if errors:
            return SignInPayload(
                access_token=None,
                refresh_token=None,
                expires_at=None,
                refresh_expires_at=None,
                member=None,
                created=False,
                errors=errors,
            )
        tokens = signed.tokens
        row = await ctx.loaders.member.load(tokens.member_id)
        return SignInPayload(
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            expires_at=tokens.access_expires_at,
            refresh_expires_at=tokens.refresh_expires_at,
            member=Member.from_row(row) if row else None,
            created=signed.created,
            errors=[],
        )

    @strawberry.mutation(
        description="New tokens for a refresh token, which stops working (rotation); a refresh "
        "token used twice ends its session."
    )
    async def refresh_session(
        self, info: Info, input: RefreshSessionInput
    ) -> RefreshSessionPayload:
        ctx = info.context

        async def effect(uow):
            tokens = await session_rules.refresh_session(
                uow, ctx.settings, refresh_token=input.refresh_token
            )
            return {"tokens": tokens}

        result, errors = await execute(ctx, operation="refreshSession", effect=effect)
        tokens = result.get("tokens")
        return RefreshSessionPayload(
            access_token=tokens.access_token if tokens else None,
            refresh_token=tokens.refresh_token if tokens else None,
            expires_at=tokens.access_expires_at if tokens else None,
            refresh_expires_at=tokens.refresh_expires_at if tokens else None,
            errors=errors,
        )

    @strawberry.mutation(description="End the session of this refresh token.")
    async def sign_out(self, info: Info, input: SignOutInput) -> SignOutPayload:
        ctx = info.context

        async def effect(uow):
            await session_rules.sign_out(uow, refresh_token=input.refresh_token)
            return {}

        _, errors = await execute(ctx, operation="signOut", effect=effect)
        return SignOutPayload(errors=errors)

    @strawberry.mutation(
        permission_classes=[CanEndSessions],
        description="A member: end one of their sessions (another device). Ops: anyone's.",
    )
    async def end_session(self, info: Info, input: EndSessionInput) -> EndSessionPayload:
        ctx = info.context
        principal = ctx.principal

        async def effect(uow):
            row = await session_rules.end_session(
                uow,
                session_id=str(input.session_id),
                member_id=principal.member_id if principal.is_member else None,
            )
            return {"session": MemberSession.from_model(row, principal.session_id)}

        result, errors = await execute(ctx, operation="endSession", effect=effect)
        return EndSessionPayload(session=result.get("session"), errors=errors)

    @strawberry.mutation(
        permission_classes=[IsOps],
        description="Ops: unbind a member's WeChat account (audited) and end their sessions; "
        "the next sign-in with the member's phone binds the WeChat account it comes from.",
    )
    async def unbind_we_chat(self, info: Info, input: UnbindWeChatInput) -> UnbindWeChatPayload:
        ctx = info.context

        async def effect(uow):
            unbound = await unbind_wechat(
                uow, actor=ctx.principal.caller, member_id=input.member_id, reason=input.reason
            )
            return {"unbound": unbound}

        result, errors = await execute(ctx, operation="unbindWeChat", effect=effect)
        return UnbindWeChatPayload(unbound=result.get("unbound", 0), errors=errors)
