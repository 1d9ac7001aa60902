"""Webhooks out: endpoints (create, rotate the secret, disable, enable), the delivery log
(`webhookDeliveries`), replaying one delivery and recovering an endpoint's failed ones. Ops
manage any endpoint; a partner key with the `webhooks` scope its own unit's
(app.domain.webhooks.endpoints decides, FORBIDDEN otherwise)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry import Info

from app.domain.access.principals import Principal
from app.domain.shared.errors import DomainError, PermissionDenied
from app.domain.shared.units import find_unit
from app.domain.webhooks import deliveries, endpoints
from app.graphql.core.errors import UserError, domain_graphql_error, forbidden
from app.graphql.core.execution import execute
from app.graphql.core.pagination import PageInfo, decode_cursor, encode_cursor, page_size
from app.graphql.core.permissions import Forbidding
from app.graphql.webhooks.types import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookDeliveryConnection,
    WebhookDeliveryEdge,
    WebhookEndpoint,
    WebhookEndpointConnection,
    WebhookEndpointEdge,
    WebhookEvent,
)


class CanManageWebhooks(Forbidding):
    """Ops, or a partner key with the webhooks scope."""

    message = "Webhooks need the webhooks scope (or ops)."

    def allows(self, principal: Principal) -> bool:
        return principal.has_role("ops") or principal.has_scope(endpoints.SCOPE)


@strawberry.input
class CreateWebhookEndpointInput:
    url: str = strawberry.field(description="https, on a public address.")
    events: list[WebhookEvent]  # type: ignore[valid-type]
    business_unit_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Id or code. Ops: null for the group's endpoint; a key: its own unit.",
    )
    description: str | None = None


@strawberry.type
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None = None
    secret: str | None = strawberry.field(
        default=None, description="The signing secret, whsec_ + base64: shown this once, keep it."
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class WebhookDeliveryPayload:
    delivery: WebhookDelivery | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RecoverWebhookDeliveriesPayload:
    recovered: int = 0
    errors: list[UserError] = strawberry.field(default_factory=list)


async def _endpoint_change(info: Info, change: Any, *, with_secret: bool) -> WebhookEndpointPayload:
    ctx = info.context

    async def effect(uow):
        result = await change(uow, ctx.principal)
        secret, row = result if isinstance(result, tuple) else (None, result)
        return {"secret": secret, "endpoint": WebhookEndpoint.from_row(row)}

    result, errors = await execute(ctx, operation="webhooks", effect=effect)
    if errors:
        return WebhookEndpointPayload(errors=errors)
    return WebhookEndpointPayload(
        endpoint=result["endpoint"], secret=result["secret"] if with_secret else None
    )


@strawberry.type
class WebhooksQuery:
    @strawberry.field(
        permission_classes=[CanManageWebhooks],
        description="Endpoints with their health, by id: ops all (one unit's with"
        " businessUnitId), a key its unit's; `first` at most 100.",
    )
    async def webhook_endpoints(
        self,
        info: Info,
        business_unit_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> WebhookEndpointConnection:
        ctx = info.context
        try:
            limit = page_size(first)
            after_id = decode_cursor("webhook-endpoint", after)
            async with ctx.uow() as uow:
                unit_id = None
                if business_unit_id is not None:
                    unit_id = (await find_unit(uow, business_unit_id)).id
                rows = await endpoints.list_endpoints(
                    uow, ctx.principal, unit_id=unit_id, limit=limit + 1, after_id=after_id
                )
        except PermissionDenied as error:
            raise forbidden(str(error)) from None
        except DomainError as error:
            raise domain_graphql_error(error) from None
        edges = [
            WebhookEndpointEdge(
                cursor=encode_cursor("webhook-endpoint", row.id or 0),
                node=WebhookEndpoint.from_row(row),
            )
            for row in rows[:limit]
        ]
        return WebhookEndpointConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(rows) > limit, end_cursor=edges[-1].cursor if edges else None
            ),
        )

    @strawberry.field(
        permission_classes=[CanManageWebhooks],
        description="An endpoint's delivery log, newest first, with every attempt.",
    )
    async def webhook_deliveries(
        self,
        info: Info,
        endpoint_id: strawberry.ID,
        status: DeliveryStatus | None = None,  # type: ignore[valid-type]
        first: int | None = None,
        after: str | None = None,
    ) -> WebhookDeliveryConnection:
        ctx = info.context
        try:
            limit = page_size(first)
            before_id = decode_cursor("webhook-delivery", after)
            async with ctx.uow() as uow:
                rows = await deliveries.list_messages(
                    uow,
                    ctx.principal,
                    endpoint_id=endpoint_id,
                    status=status.value if status is not None else None,
                    limit=limit + 1,
                    before_id=before_id,
                )
                attempts = await deliveries.attempts_of(
                    await uow.driver(), [row.id for row in rows[:limit] if row.id is not None]
                )
        except PermissionDenied as error:
            raise forbidden(str(error)) from None
        except DomainError as error:
            raise domain_graphql_error(error) from None
        edges = [
            WebhookDeliveryEdge(
                cursor=encode_cursor("webhook-delivery", row.id or 0),
                node=WebhookDelivery.from_row(row, attempts.get(row.id or 0, [])),
            )
            for row in rows[:limit]
        ]
        return WebhookDeliveryConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(rows) > limit, end_cursor=edges[-1].cursor if edges else None
            ),
        )


@strawberry.type
class WebhooksMutation:
    @strawberry.mutation(
        permission_classes=[CanManageWebhooks],
        description="Subscribe a URL to event types; the secret is in the payload, once.",
    )
    async def create_webhook_endpoint(
        self, info: Info, input: CreateWebhookEndpointInput
    ) -> WebhookEndpointPayload:
        settings = info.context.services.settings

        async def change(uow, principal):
            return await endpoints.create_endpoint(
                uow,
                principal,
                url=input.url,
                events=[event.value for event in input.events],
                business_unit=input.business_unit_id,
                description=input.description,
                private_ok=settings.webhooks_private_ok,
            )

        return await _endpoint_change(info, change, with_secret=True)

    @strawberry.mutation(
        permission_classes=[CanManageWebhooks],
        description="A new secret (in the payload, once); the previous one signs alongside"
        " it for 24 hours.",
    )
    async def rotate_webhook_secret(
        self, info: Info, endpoint_id: strawberry.ID
    ) -> WebhookEndpointPayload:
        async def change(uow, principal):
            return await endpoints.rotate_secret(uow, principal, endpoint_id)

        return await _endpoint_change(info, change, with_secret=True)

    @strawberry.mutation(
        permission_classes=[CanManageWebhooks],
        description="Stop delivering to an endpoint; its pending deliveries fail.",
    )
    async def disable_webhook_endpoint(
        self, info: Info, endpoint_id: strawberry.ID, reason: str | None = None
    ) -> WebhookEndpointPayload:
        async def change(uow, principal):
            return await endpoints.disable_endpoint(uow, principal, endpoint_id, reason)

        return await _endpoint_change(info, change, with_secret=False)

    @strawberry.mutation(
        permission_classes=[CanManageWebhooks],
        description="Deliver to a disabled endpoint again (new events; recover the failed).",
    )
    async def enable_webhook_endpoint(
        self, info: Info, endpoint_id: strawberry.ID
    ) -> WebhookEndpointPayload:
        async def change(uow, principal):
            return await endpoints.enable_endpoint(uow, principal, endpoint_id)

        return await _endpoint_change(info, change, with_secret=False)

    @strawberry.mutation(
        permission_classes=[CanManageWebhooks],
        description="Send one delivery again, same webhook-id, with a fresh schedule.",
    )
    async def replay_webhook_delivery(
        self, info: Info, id: strawberry.ID
    ) -> WebhookDeliveryPayload:
        ctx = info.context

        async def effect(uow):
            row = await deliveries.replay_message(uow, ctx.principal, id)
            assert row.id is not None
            logged = await deliveries.attempts_of(await uow.driver(), [row.id])
            return {"delivery": WebhookDelivery.from_row(row, logged[row.id])}

        result, errors = await execute(ctx, operation="replayWebhookDelivery", effect=effect)
        return WebhookDeliveryPayload(delivery=result.get("delivery"), errors=errors)

    @strawberry.mutation(
        permission_classes=[CanManageWebhooks],
        description="Send an endpoint's failed deliveries made since a time again.",
    )
    async def recover_webhook_deliveries(
        self, info: Info, endpoint_id: strawberry.ID, since: datetime
    ) -> RecoverWebhookDeliveriesPayload:
        ctx = info.context

        async def effect(uow):
            count = await deliveries.recover_messages(uow, ctx.principal, endpoint_id, since)
            return {"recovered": count}

        result, errors = await execute(ctx, operation="recoverWebhookDeliveries", effect=effect)
        return RecoverWebhookDeliveriesPayload(recovered=result.get("recovered", 0), errors=errors)
