"""Sign-in as GraphQL shows it: the tokens a sign-in or refresh hands out, and sessions."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import strawberry

from app.graphql.core.errors import UserError
from app.graphql.members.types import Member

if TYPE_CHECKING:
    from app.models import MemberSession as MemberSessionModel


@strawberry.type(description="A sign-in of the member on one device.")
class MemberSession:
    id: strawberry.ID
    via: str = strawberry.field(description="How the member signed in: WECHAT.")
    device_id: str | None
    created_at: datetime
    refreshed_at: datetime
    expires_at: datetime = strawberry.field(
        description="When it ends unless refreshed before (the refresh token's expiry)."
    )
    current: bool = strawberry.field(description="The session of the token asking.")

    @classmethod
    def from_model(cls, row: MemberSessionModel, current_id: str | None) -> MemberSession:
        return cls(
            id=strawberry.ID(row.id),
            via=row.via,
            device_id=row.device_id,
            created_at=row.created_at,
            refreshed_at=row.refreshed_at,
            expires_at=row.expires_at,
            current=row.id == current_id,
        )


@strawberry.type
class SignInPayload:
    access_token: str | None = strawberry.field(
        description="Send as `Authorization: Bearer ...`; short-lived (see expiresAt)."
    )
    refresh_token: str | None = strawberry.field(
        description="Keep it safe; refreshSession trades it for new tokens, once."
    )
    expires_at: datetime | None = strawberry.field(description="When the access token expires.")
    refresh_expires_at: datetime | None = strawberry.field(
        description="When the refresh token expires unless used before."
    )
    member: Member | None
    created: bool = strawberry.field(description="A new member registered with this sign-in.")
    errors: list[UserError]


@strawberry.type
class RefreshSessionPayload:
    access_token: str | None
    refresh_token: str | None
    expires_at: datetime | None
    refresh_expires_at: datetime | None
    errors: list[UserError]


@strawberry.type
class SignOutPayload:
    errors: list[UserError]


@strawberry.type
class EndSessionPayload:
    session: MemberSession | None
    errors: list[UserError]


@strawberry.type
class UnbindWeChatPayload:
    unbound: int = strawberry.field(description="How many WeChat accounts were unbound.")
    errors: list[UserError]
