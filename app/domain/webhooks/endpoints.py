"""Webhook endpoints: who may subscribe what, and the secrets that sign for them.

- Operators (`ops`) manage any endpoint: one for a unit receives that unit's events, one for no
  unit receives the group's. A partner key with the `webhooks` scope manages only its own
  unit's endpoints; another unit's endpoint, or one that does not exist, is FORBIDDEN to it
  alike, so a key learns nothing of other units.
- A URL must be https and resolve to public addresses only (app.platform.addresses), unless
  private addresses are allowed (development, WEBHOOKS_ALLOW_PRIVATE).
- A secret is `whsec_` + base64 of 32 random bytes, returned once. Rotating keeps the previous
  secret signing alongside the new one for `ROTATION_OVERLAP`, so a receiver can switch
  without losing a message.
- Disabling (by a caller, on HTTP 410, or after failing for days) fails the endpoint's pending
  messages; enabling again lets `recover_messages` send them anew.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select, update

from app.domain.access.principals import Principal
from app.domain.shared.errors import DomainError, ErrorCode, PermissionDenied
from app.domain.shared.events import EventType
from app.domain.shared.ids import parse_id
from app.domain.shared.operator_log import log_operator_action
from app.domain.shared.units import find_unit
from app.models import WebhookEndpoint, WebhookMessage
from app.platform.addresses import AddressRefused, check_url
from app.platform.uow import UnitOfWork

SCOPE = "webhooks"


class WebhookEvent(StrEnum):
    """The event types an endpoint may subscribe (app.domain.shared.events has them all)."""

    POINTS_CHANGED = EventType.POINTS_CHANGED.value
    POINTS_EXPIRING = EventType.POINTS_EXPIRING.value
    TIER_CHANGED = EventType.TIER_CHANGED.value
    TIER_DOWNGRADE_WARNING = EventType.TIER_DOWNGRADE_WARNING.value
    VOUCHER_ISSUED = EventType.VOUCHER_ISSUED.value
    VOUCHER_USED = EventType.VOUCHER_USED.value
    VOUCHER_RESTORED = EventType.VOUCHER_RESTORED.value
    VOUCHER_ENDED = EventType.VOUCHER_ENDED.value
    MALL_ORDER_CHANGED = EventType.MALL_ORDER_CHANGED.value


SUBSCRIBABLE = (
    EventType.POINTS_CHANGED,
    EventType.POINTS_EXPIRING,
    EventType.TIER_CHANGED,
    EventType.TIER_DOWNGRADE_WARNING,
    EventType.VOUCHER_ISSUED,
    EventType.VOUCHER_USED,
    EventType.MALL_ORDER_CHANGED,
    EventType.VOUCHER_RESTORED,
    EventType.VOUCHER_ENDED,
)
ROTATION_OVERLAP = timedelta(hours=24)
SECRET_PREFIX = "whsec_"
MAX_URL = 2000


def new_secret() -> str:
    """A signing secret: `whsec_` + base64 of 32 random bytes (Standard Webhooks' form)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets that sign for `endpoint` now: its own, and the previous one during the
    rotation's overlap."""
    held = [endpoint.secret]
    if endpoint.previous_secret and (endpoint.previous_secret_until or now) > now:
        held.append(endpoint.previous_secret)
    return held


def may_manage(principal: Principal, unit_id: int | None) -> bool:
    """Whether `principal` may manage an endpoint of `unit_id` (None: the group's)."""
    if principal.has_role("ops"):
        return True
    return principal.has_scope(SCOPE) and unit_id is not None and principal.unit_id == unit_id


def _events(events: Sequence[str]) -> list[str]:
    wanted = sorted({str(event) for event in events})
    unknown = [event for event in wanted if event not in {e.value for e in SUBSCRIBABLE}]
    if not wanted or unknown:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"events must be among {', '.join(e.value for e in SUBSCRIBABLE)}",
            "events",
        )
    return wanted


async def _url(url: str, *, private_ok: bool) -> str:
    text = (url or "").strip()
    if not text or len(text) > MAX_URL:
        raise DomainError(ErrorCode.INVALID_INPUT, f"a URL of 1-{MAX_URL} characters", "url")
    try:
        await check_url(text, private_ok=private_ok)
    except AddressRefused as refused:
        raise DomainError(ErrorCode.INVALID_INPUT, str(refused), "url") from None
    return text


async def create_endpoint(
    uow: UnitOfWork,
    principal: Principal,
    *,
    url: str,
    events: Sequence[str],
    business_unit: str | int | None = None,
    description: str | None = None,
    private_ok: bool = False,
) -> tuple[str, WebhookEndpoint]:
    """A new endpoint; returns its secret (shown this once) and its row. A partner key's
    endpoint is for its own unit (naming no unit means its own)."""
    unit_id = (await find_unit(uow, business_unit)).id if business_unit is not None else None
    if principal.is_partner and unit_id is None:
        unit_id = principal.unit_id
    if not may_manage(principal, unit_id):
        raise PermissionDenied("a partner key manages only its own unit's webhooks")
    wanted = _events(events)
    text = (description or "").strip()
    if len(text) > 200:
        raise DomainError(ErrorCode.INVALID_INPUT, "at most 200 characters", "description")
    row = WebhookEndpoint(
        url=await _url(url, private_ok=private_ok),
        business_unit_id=unit_id,
        events=wanted,
        description=text,
        secret=new_secret(),
        created_by=principal.caller[:80],
        created_at=uow.now,
    )
    uow.session.add(row)
    await uow.session.flush()
    await _audit(uow, principal, "webhook.create", row, {"url": row.url, "events": wanted})
    return row.secret, row


async def endpoint_for(
    uow: UnitOfWork, principal: Principal, endpoint_id: int | str, *, lock: bool = False
) -> WebhookEndpoint:
    """The endpoint if `principal` may manage it; a partner is FORBIDDEN another unit's
    endpoint and an unknown one alike, an operator gets NOT_FOUND for an unknown one."""
    text = str(endpoint_id).strip()
    row = None
    if (wanted := parse_id(text, big=True)) is not None:
        query = select(WebhookEndpoint).where(WebhookEndpoint.id == wanted)
        row = (await uow.session.scalars(query.with_for_update() if lock else query)).first()
    if row is None or not may_manage(principal, row.business_unit_id):
        if not principal.has_role("ops"):
            raise PermissionDenied("this webhook endpoint is not the caller's")
        raise DomainError(ErrorCode.NOT_FOUND, f"no webhook endpoint {text!r}", "endpointId")
    return row


async def rotate_secret(
    uow: UnitOfWork, principal: Principal, endpoint_id: int | str
) -> tuple[str, WebhookEndpoint]:
    """A new secret for the endpoint (shown this once); the current one keeps signing
    alongside it for `ROTATION_OVERLAP`."""
    row = await endpoint_for(uow, principal, endpoint_id, lock=True)
    row.previous_secret, row.previous_secret_until = row.secret, uow.now + ROTATION_OVERLAP
    row.secret = new_secret()
    await uow.session.flush()
    await _audit(uow, principal, "webhook.rotate-secret", row, {})
    return row.secret, row


async def disable_endpoint(
    uow: UnitOfWork, principal: Principal, endpoint_id: int | str, reason: str | None = None
) -> WebhookEndpoint:
    """Stop delivering to the endpoint; its pending messages fail (recoverable later)."""
    row = await endpoint_for(uow, principal, endpoint_id, lock=True)
    if row.disabled_at is None:
        await disable(uow, row, (reason or "").strip()[:200] or f"disabled by {principal.kind}")
        await _audit(uow, principal, "webhook.disable", row, {"reason": row.disabled_reason})
    return row


async def enable_endpoint(
    uow: UnitOfWork, principal: Principal, endpoint_id: int | str
) -> WebhookEndpoint:
    """Deliver to the endpoint again (new events; `recover_messages` for the failed ones)."""
    row = await endpoint_for(uow, principal, endpoint_id, lock=True)
    if row.disabled_at is not None:
        row.disabled_at = row.disabled_reason = row.failing_since = None
        await uow.session.flush()
        await _audit(uow, principal, "webhook.enable", row, {})
    return row


async def disable(uow: UnitOfWork, row: WebhookEndpoint, reason: str) -> None:
    """Disable `row` (locked by the caller) and fail its pending messages."""
    row.disabled_at, row.disabled_reason = uow.now, reason[:200]
    await uow.session.flush()
    await uow.session.execute(
        update(WebhookMessage)
        .where(WebhookMessage.endpoint_id == row.id, WebhookMessage.status == "PENDING")
        .values(status="FAILED", next_attempt_at=None, last_error="endpoint disabled")
    )


async def list_endpoints(
    uow: UnitOfWork,
    principal: Principal,
    *,
    unit_id: int | None = None,
    limit: int,
    after_id: int | None = None,
) -> list[WebhookEndpoint]:
    """The endpoints `principal` manages by id (a partner: its unit's), one unit's with
    `unit_id`."""
    query = select(WebhookEndpoint).order_by(WebhookEndpoint.id).limit(limit)
    if not principal.has_role("ops"):
        if unit_id is not None and unit_id != principal.unit_id:
            raise PermissionDenied("a partner key sees only its own unit's webhooks")
        unit_id = principal.unit_id
    if unit_id is not None:
        query = query.where(WebhookEndpoint.business_unit_id == unit_id)
    if after_id is not None:
        query = query.where(WebhookEndpoint.id > after_id)
    return list(await uow.session.scalars(query))


async def _audit(
    uow: UnitOfWork, principal: Principal, action: str, row: WebhookEndpoint, detail: dict
) -> None:
    """Operators' changes go to the audit trail (never a secret)."""
    if principal.kind == "operator":
        assert row.id is not None
        await log_operator_action(
            uow,
            actor=principal.caller,
            action=action,
            target_kind="webhook_endpoint",
            target_id=row.id,
            detail=detail,
        )
