"""Live updates: Subscription.pointsChanged, fed by the worker's one Redis pub/sub connection
(app.platform.points_feed). A subscription that has started rides out a Redis outage: it
waits, and gets the balance as it is now once the feed has resubscribed."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

import strawberry
from redis.exceptions import RedisError
from strawberry import Info

from app.domain.members.identity import get_member
from app.domain.shared.errors import DomainError, ErrorCode
from app.graphql.core.credentials import until_expiry
from app.graphql.core.errors import domain_graphql_error
from app.graphql.core.permissions import CanWatchPoints
from app.graphql.core.subscriptions import redis_unavailable, subscription_slot
from app.graphql.ledger.types import PointsBalance, load_balance


async def _watched_member(info: Info, member_id: strawberry.ID | None) -> int:
    """The member whose points the caller watches (permissions already checked)."""
    principal = info.context.principal
    try:
        if member_id is None:
            if not principal.is_member:
                raise DomainError(ErrorCode.INVALID_INPUT, "name the member to watch", "memberId")
            member_id = strawberry.ID(str(principal.member_id))
        async with info.context.uow() as uow:
            member = await get_member(uow, member_id)
        assert member.id is not None
        return member.id
    except DomainError as error:
        raise domain_graphql_error(error) from None


@strawberry.type
class PointsSubscription:
    @strawberry.subscription(
        permission_classes=[CanWatchPoints],
        description=(
            "The member's balance now, then again after every change (bursts coalesced). "
            "A member token watches itself; operators name any member."
        ),
    )
    async def points_changed(
        self, info: Info, member_id: strawberry.ID | None = None
    ) -> AsyncGenerator[PointsBalance, None]:
        ctx = info.context
        watched = await _watched_member(info, member_id)
        with subscription_slot(ctx):
            changes = until_expiry(
                ctx.services.points_feed.changes(watched),
                ctx.principal.expires_at,
            )
            async with aclosing(changes):
                try:
                    await anext(changes)  # subscribed: nothing from now on is missed
                except (RedisError, OSError):
                    raise redis_unavailable() from None
                while True:
                    ctx.refresh_loaders()  # a websocket context lives long: read afresh
                    yield await load_balance(info, watched)
                    try:
                        await anext(changes)
                    except (RedisError, OSError):
                        raise redis_unavailable() from None
