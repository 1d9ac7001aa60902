"""Webhook endpoints and the delivery log as GraphQL shows them. A secret is never a field: the
mutations that make one return it once, in their payload."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import strawberry

from app.domain.webhooks.deliveries import DeliveryStatus as DeliveryStatusValue
from app.domain.webhooks.endpoints import WebhookEvent as WebhookEventValue
from app.graphql.core.pagination import PageInfo

if TYPE_CHECKING:
    from app.models import WebhookEndpoint as WebhookEndpointModel
    from app.models import WebhookMessage as WebhookMessageModel

WebhookEvent = strawberry.enum(WebhookEventValue, name="WebhookEvent")
DeliveryStatus = strawberry.enum(DeliveryStatusValue, name="DeliveryStatus")


@strawberry.type(description="How an endpoint is doing.")
class WebhookEndpointHealth:
    enabled: bool
    disabled_at: datetime | None
    disabled_reason: str | None
    failing_since: datetime | None = strawberry.field(
        description="Failing without a success since; disabled after WEBHOOKS_DISABLE_AFTER_DAYS."
    )
    last_success_at: datetime | None
    last_failure_at: datetime | None


@strawberry.type(description="A URL that receives signed events.")
class WebhookEndpoint:
    id: strawberry.ID
    url: str
    events: list[WebhookEvent]  # type: ignore[valid-type]
    business_unit_id: strawberry.ID | None = strawberry.field(
        description="Null: the group's endpoint, which receives every unit's events."
    )
    description: str
    created_at: datetime
    previous_secret_until: datetime | None = strawberry.field(
        description="After a rotation, the previous secret signs too until then."
    )
    health: WebhookEndpointHealth

    @classmethod
    def from_row(cls, row: WebhookEndpointModel) -> WebhookEndpoint:
        return cls(
            id=strawberry.ID(str(row.id)),
            url=row.url,
            events=[WebhookEventValue(e) for e in row.events],
            business_unit_id=(
                strawberry.ID(str(row.business_unit_id)) if row.business_unit_id else None
            ),
            description=row.description,
            created_at=row.created_at,
            previous_secret_until=row.previous_secret_until,
            health=WebhookEndpointHealth(
                enabled=row.disabled_at is None,
                disabled_at=row.disabled_at,
                disabled_reason=row.disabled_reason,
                failing_since=row.failing_since,
                last_success_at=row.last_success_at,
                last_failure_at=row.last_failure_at,
            ),
        )


@strawberry.type(description="One try at delivering a message.")
class WebhookAttempt:
    attempted_at: datetime
    status_code: int | None = strawberry.field(description="Null: no answer (timeout, refused).")
    duration_ms: int
    error: str | None
    response_excerpt: str | None = strawberry.field(description="The answer's first characters.")


@strawberry.type(description="One event for one endpoint, and every attempt to deliver it.")
class WebhookDelivery:
    id: strawberry.ID
    webhook_id: str = strawberry.field(description="The webhook-id header, the same every try.")
    endpoint_id: strawberry.ID
    type: str
    status: DeliveryStatus  # type: ignore[valid-type]
    sequence: int | None = strawberry.field(description="The member's sequence number.")
    body: str = strawberry.field(description="The JSON body, as signed and sent.")
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None
    attempts: list[WebhookAttempt]

    @classmethod
    def from_row(cls, row: WebhookMessageModel, attempts: list[tuple]) -> WebhookDelivery:
        return cls(
            id=strawberry.ID(str(row.id)),
            webhook_id=row.webhook_id,
            endpoint_id=strawberry.ID(str(row.endpoint_id)),
            type=row.type,
            status=DeliveryStatusValue(row.status),
            sequence=row.sequence,
            body=row.body,
            created_at=row.created_at,
            next_attempt_at=row.next_attempt_at,
            delivered_at=row.delivered_at,
            last_error=row.last_error,
            attempts=[
                WebhookAttempt(
                    attempted_at=at,
                    status_code=code,
                    duration_ms=took,
                    error=error,
                    response_excerpt=excerpt,
                )
                for at, code, took, error, excerpt in attempts
            ],
        )


@strawberry.type
class WebhookEndpointEdge:
    cursor: str
    node: WebhookEndpoint


@strawberry.type
class WebhookEndpointConnection:
    edges: list[WebhookEndpointEdge]
    page_info: PageInfo


@strawberry.type
class WebhookDeliveryEdge:
    cursor: str
    node: WebhookDelivery


@strawberry.type
class WebhookDeliveryConnection:
    edges: list[WebhookDeliveryEdge]
    page_info: PageInfo
