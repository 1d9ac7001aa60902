"""Delivering messages at least once, and the delivery log.

- Claiming: a worker claims due PENDING messages of enabled endpoints with
  `FOR UPDATE SKIP LOCKED` and, in the same short transaction, moves each one's next attempt a
  lease ahead and counts the try; it then sends them outside any transaction. So several
  workers never send one attempt twice, and a worker killed mid-delivery loses nothing: when
  its lease ends the message is due again and another worker (or the same, restarted) sends
  it — at least once, the same `webhook-id` every time.
- Recording: every attempt is a row (time, status code, duration, error, a short excerpt of
  the answer). 2xx: DELIVERED. Otherwise the next attempt follows `RETRY_DELAYS` with jitter,
  later if the endpoint asked so (`Retry-After`); after the last one the message is FAILED.
  HTTP 410 Gone disables the endpoint at once; an endpoint failing without a success for
  `disable_after` is disabled too (and ops are told, by the dispatcher's log and metrics).
- Replaying one message, or recovering an endpoint's failed messages since a time, makes them
  PENDING with a fresh schedule; their `webhook-id` stays, so a receiver can deduplicate.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select

from app.domain.access.principals import Principal
from app.domain.shared.errors import DomainError, ErrorCode, PermissionDenied
from app.domain.shared.ids import parse_id
from app.domain.webhooks.endpoints import disable, endpoint_for, signing_secrets
from app.models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from app.platform.driver import Driver
from app.platform.uow import UnitOfWork

# After the first attempt (at once), the waits before each next one: 5 s, 5 min, 30 min, 2 h,
# 5 h, 10 h, 10 h; eight attempts over about 28 hours.
RETRY_DELAYS = tuple(timedelta(seconds=s) for s in (5, 300, 1800, 7200, 18000, 36000, 36000))
JITTER = 0.1  # each wait is drawn within +-10%, so endpoints that failed together spread out
MAX_RETRY_AFTER = timedelta(hours=24)
EXCERPT = 200  # characters of an answer kept in the log


class DeliveryStatus(StrEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"  # no tries left, or the endpoint is gone
    STALE = "stale"  # another worker took the message meanwhile: only the attempt is logged


@dataclass(frozen=True)
class Claimed:
    """A message a worker holds until its lease ends, with what it needs to send it."""

    message_id: int
    webhook_id: str
    endpoint_id: int
    url: str
    body: str
    tries: int  # this attempt's number, 1 for the first
    secrets: tuple[str, ...]


@dataclass(frozen=True)
class Attempted:
    """What one attempt got: an HTTP status, or an error before any (timeout, refused)."""

    status_code: int | None
    duration_ms: int
    error: str | None = None
    excerpt: str | None = None
    retry_after: timedelta | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class Recorded:
    outcome: Outcome
    disabled: str | None = None  # why the endpoint was disabled by this attempt


def next_wait(
    tries: int,
    retry_after: timedelta | None = None,
    draw: Callable[[float, float], float] = random.uniform,
) -> timedelta | None:
    """The wait after failed attempt number `tries` (1 for the first), or None: no tries
    left. `Retry-After` makes it longer, never shorter, and at most a day."""
    if tries > len(RETRY_DELAYS):
        return None
    wait = RETRY_DELAYS[tries - 1] * draw(1 - JITTER, 1 + JITTER)
    if retry_after is not None:
        wait = max(wait, min(retry_after, MAX_RETRY_AFTER))
    return wait


_CLAIM = """WITH due AS (
    SELECT m.id FROM webhook_messages m
    JOIN webhook_endpoints e ON e.id = m.endpoint_id AND e.disabled_at IS NULL
    WHERE m.status = 'PENDING' AND m.next_attempt_at <= $1
    ORDER BY m.next_attempt_at, m.id
    LIMIT $3
    FOR UPDATE OF m SKIP LOCKED
)
UPDATE webhook_messages m SET next_attempt_at = $2, tries = m.tries + 1
FROM due WHERE m.id = due.id
RETURNING m.id, m.webhook_id, m.endpoint_id, m.body, m.tries"""
_ENDPOINTS = """SELECT id, url, secret, previous_secret, previous_secret_until
FROM webhook_endpoints WHERE id = ANY($1::bigint[])"""


async def claim_due(
    driver: Driver, *, now: datetime, lease: timedelta, limit: int
) -> list[Claimed]:
    """Claim up to `limit` due messages for `lease` (run it in its own transaction)."""
    rows = await driver.fetch(_CLAIM, now, now + lease, limit)
    if not rows:
        return []
    endpoints = {
        row["id"]: row
        for row in await driver.fetch(_ENDPOINTS, sorted({r["endpoint_id"] for r in rows}))
    }
    claimed = []
    for row in rows:
        endpoint = endpoints[row["endpoint_id"]]
        signing = signing_secrets(
            WebhookEndpoint(
                url=endpoint["url"],
                secret=endpoint["secret"],
                previous_secret=endpoint["previous_secret"],
                previous_secret_until=endpoint["previous_secret_until"],
                created_by="",
                created_at=now,
            ),
            now,
        )
        claimed.append(
            Claimed(
                message_id=row["id"],
                webhook_id=row["webhook_id"],
                endpoint_id=row["endpoint_id"],
                url=endpoint["url"],
                body=row["body"],
                tries=row["tries"],
                secrets=tuple(signing),
            )
        )
    return claimed


# A batch's successful attempts recorded at once: why — one transaction per attempt, each
# locking its endpoint's row, made 20 deliveries to one endpoint queue on that lock (14 events/s
# measured by scripts/bench_webhooks.py on the shared 2-core machine). The endpoints are locked
# first, in id order (as `disable` locks an endpoint before its messages), then the attempts and
# the messages are written by a second statement.
_HEALTHY = """WITH locked AS (
    SELECT id FROM webhook_endpoints WHERE id = ANY($2::bigint[]) ORDER BY id FOR UPDATE
)
UPDATE webhook_endpoints e SET failing_since = NULL, last_success_at = $1
FROM locked WHERE e.id = locked.id"""
_DELIVERED = """WITH logged AS (
    INSERT INTO webhook_attempts
        (message_id, attempted_at, status_code, duration_ms, error, response_excerpt)
    SELECT message_id, $1, status_code, duration_ms, NULL, excerpt
    FROM unnest($2::bigint[], $3::int[], $4::int[], $5::text[])
        AS a(message_id, status_code, duration_ms, excerpt)
)
UPDATE webhook_messages SET status = 'DELIVERED', delivered_at = $1, next_attempt_at = NULL,
    last_error = NULL
WHERE id = ANY($2::bigint[]) AND status <> 'DELIVERED'"""


async def record_deliveries(
    uow: UnitOfWork, delivered: Sequence[tuple[Claimed, Attempted]]
) -> None:
    """Log successful attempts (2xx) and mark their messages DELIVERED, all in two statements:
    what `record_attempt` does for one success."""
    if not delivered:
        return
    if not all(attempted.succeeded for _, attempted in delivered):
        raise AssertionError("record_deliveries takes successful attempts only")
    driver = await uow.driver()
    await driver.execute(
        _HEALTHY, uow.now, sorted({claimed.endpoint_id for claimed, _ in delivered})
    )
    await driver.execute(
        _DELIVERED,
        uow.now,
        [claimed.message_id for claimed, _ in delivered],
        [attempted.status_code for _, attempted in delivered],
        [attempted.duration_ms for _, attempted in delivered],
        [(attempted.excerpt or None) and attempted.excerpt[:EXCERPT] for _, attempted in delivered],
    )


async def record_attempt(
    uow: UnitOfWork,
    claimed: Claimed,
    attempted: Attempted,
    *,
    disable_after: timedelta,
    draw: Callable[[float, float], float] = random.uniform,
) -> Recorded:
    """Log the attempt and move the message and its endpoint's health on."""
    now = uow.now
    session = uow.session
    session.add(
        WebhookAttempt(
            message_id=claimed.message_id,
            attempted_at=now,
            status_code=attempted.status_code,
            duration_ms=attempted.duration_ms,
            error=(attempted.error or None) and attempted.error[:200],
            response_excerpt=(attempted.excerpt or None) and attempted.excerpt[:EXCERPT],
        )
    )
    # The endpoint first, then the message: disabling it locks its messages in that order too.
    endpoint = (
        await session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.id == claimed.endpoint_id)
            .with_for_update()
        )
    ).one()
    message = (
        await session.scalars(
            select(WebhookMessage).where(WebhookMessage.id == claimed.message_id).with_for_update()
        )
    ).one()
    current = message.status == DeliveryStatus.PENDING and message.tries == claimed.tries
    if attempted.succeeded:
        endpoint.failing_since, endpoint.last_success_at = None, now
        if message.status != DeliveryStatus.DELIVERED:
            message.status, message.delivered_at = DeliveryStatus.DELIVERED.value, now
            message.next_attempt_at, message.last_error = None, None
        await session.flush()
        return Recorded(Outcome.DELIVERED)
    endpoint.last_failure_at = now
    endpoint.failing_since = endpoint.failing_since or now
    error = _describe(attempted)
    disabled = None
    if endpoint.disabled_at is None:
        if attempted.status_code == 410:
            disabled = "the endpoint answered 410 Gone"
        elif endpoint.failing_since <= now - disable_after:
            disabled = f"failing since {endpoint.failing_since.isoformat()}"
    if not current:
        await session.flush()
        if disabled:
            await disable(uow, endpoint, disabled)
        return Recorded(Outcome.STALE, disabled)
    wait = None if disabled else next_wait(claimed.tries, attempted.retry_after, draw)
    message.last_error = error
    if wait is None:
        message.status, message.next_attempt_at = DeliveryStatus.FAILED.value, None
    else:
        message.next_attempt_at = now + wait
    await session.flush()
    if disabled:
        await disable(uow, endpoint, disabled)
    return Recorded(Outcome.RETRY if wait is not None else Outcome.FAILED, disabled)


def _describe(attempted: Attempted) -> str:
    if attempted.error:
        return attempted.error[:200]
    return f"HTTP {attempted.status_code}"


async def replay_message(
    uow: UnitOfWork, principal: Principal, message_id: int | str
) -> WebhookMessage:
    """Send one message again, with a fresh schedule (its endpoint must be enabled)."""
    message = await message_for(uow, principal, message_id, lock=True)
    endpoint = await endpoint_for(uow, principal, message.endpoint_id)
    if endpoint.disabled_at is not None:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "the endpoint is disabled: enable it first", "id"
        )
    message.status, message.tries = DeliveryStatus.PENDING.value, 0
    message.next_attempt_at, message.last_error = uow.now, None
    await uow.session.flush()
    return message


_RECOVER = """UPDATE webhook_messages
SET status = 'PENDING', tries = 0, next_attempt_at = $3, last_error = NULL
WHERE endpoint_id = $1 AND status = 'FAILED' AND created_at >= $2"""


async def recover_messages(
    uow: UnitOfWork, principal: Principal, endpoint_id: int | str, since: datetime
) -> int:
    """Send an enabled endpoint's failed messages made since `since` again; how many."""
    endpoint = await endpoint_for(uow, principal, endpoint_id, lock=True)
    if endpoint.disabled_at is not None:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "the endpoint is disabled: enable it first", "endpointId"
        )
    if since > uow.now:
        raise DomainError(ErrorCode.INVALID_INPUT, "since is in the future", "since")
    status = await (await uow.driver()).execute(_RECOVER, endpoint.id, since, uow.now)
    return int(str(status).rsplit(" ", 1)[-1] or 0)


async def message_for(
    uow: UnitOfWork, principal: Principal, message_id: int | str, *, lock: bool = False
) -> WebhookMessage:
    """The message if `principal` may manage its endpoint (as `endpoint_for` decides)."""
    text = str(message_id).strip()
    message = None
    if (wanted := parse_id(text, big=True)) is not None:
        query = select(WebhookMessage).where(WebhookMessage.id == wanted)
        message = (await uow.session.scalars(query.with_for_update() if lock else query)).first()
    if message is None:
        if not principal.has_role("ops"):
            raise PermissionDenied("this webhook delivery is not the caller's")
        raise DomainError(ErrorCode.NOT_FOUND, f"no webhook delivery {text!r}", "id")
    await endpoint_for(uow, principal, message.endpoint_id)
    return message


async def list_messages(
    uow: UnitOfWork,
    principal: Principal,
    *,
    endpoint_id: int | str,
    status: str | None,
    limit: int,
    before_id: int | None,
) -> list[WebhookMessage]:
    """An endpoint's messages, newest first, after the cursor `before_id`."""
    endpoint = await endpoint_for(uow, principal, endpoint_id)
    query = (
        select(WebhookMessage)
        .where(WebhookMessage.endpoint_id == endpoint.id)
        .order_by(WebhookMessage.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(WebhookMessage.status == status)
    if before_id is not None:
        query = query.where(WebhookMessage.id < before_id)
    return list(await uow.session.scalars(query))


_ATTEMPTS = """SELECT message_id, attempted_at, status_code, duration_ms, error, response_excerpt
FROM webhook_attempts WHERE message_id = ANY($1::bigint[]) ORDER BY message_id, id"""


async def attempts_of(driver: Driver, message_ids: Sequence[int]) -> dict[int, list[tuple]]:
    """Each message's attempts in order, in one statement (the API's loader)."""
    found: dict[int, list[tuple]] = {message_id: [] for message_id in message_ids}
    for row in await driver.fetch(_ATTEMPTS, list(message_ids)):
        found[row["message_id"]].append(tuple(row)[1:])
    return found
