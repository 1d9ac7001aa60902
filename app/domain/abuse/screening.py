"""Anti-abuse screening of earning events: velocity limits, shared devices, refund loops.

`earn_points` screens in two steps. `screen_velocity` asks Redis *before* the member's row is
locked, so a slow or hung Redis (each call bounded by REDIS_TIMEOUT_SECONDS) never holds the
lock and never stalls the member's other earns; `screen_earn`, under the lock just before the
points are recorded, looks for refund loops in the database (and screens velocity itself when
its caller did not). With no `EarnScreen` neither does anything (jobs, imports and tests keep
today's rules).

- Velocity: at most N earning events per member and per device (till) in a sliding window,
  counted in Redis (app.domain.abuse.velocity). Over a limit the earn is refused with LIMIT_REACHED
  and nothing is recorded; the refused attempt does not use up the window. An admitted event
  whose request fails later is taken back out (`settle`).
- Shared device: more than N distinct members earning (or registering) on one device within a
  window raises a SHARED_DEVICE flag; the earn itself goes through.
- Refund loop (earn, refund, earn again by the same member at the same unit within a window):
  a REFUND_LOOP flag; with ABUSE_REFUND_LOOP_HOLD_DAYS > 0 (default 0: flag only, since an
  honest size exchange looks the same) the new earn's points are also held as pending for that
  long (released by the pending-release job after it, or when an operator clears the flag).
  Found in the database, so it works while Redis is down.
- Redis down: policy `allow` (default: fail open; the earn goes through unscreened, its ledger
  entry says so in detail["screening"], a warning is logged and counted) or `deny` (fail closed:
  UNAVAILABLE, nothing recorded).

VELOCITY and SHARED_DEVICE flags are alerts: a refusal rolls the unit of work back, so they are
collected on the screen and written after it by `record_alerts`, in a unit of work of their own.
A REFUND_LOOP flag is written with the earn it holds, in the same transaction.

What follows the earn's (or registration's) transaction is registered on its unit of work
(`uow.on_end`) by the screen itself, so no caller can forget it: events admitted for a
transaction that rolled back are taken back out of their windows, a registration's device is
counted only once the member exists, and the alerts are written.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import text

from app.domain.abuse.velocity import Window, admit, forget, new_entry, note_distinct
from app.domain.shared.errors import DomainError, ErrorCode
from app.platform.uow import UnitOfWork, unit_of_work
from app.settings import AbusePolicy

log = logging.getLogger(__name__)

# The member's latest refund of an earn at this unit, both after $3 (the loop's window).
REFUND_LOOP_SQL = """SELECT reversal.id, earned.id, earned.order_ref
FROM points_transactions reversal
JOIN points_transactions earned ON earned.id = reversal.reverses_id
WHERE reversal.member_id = $1 AND reversal.kind = 'EARN_REVERSAL'
  AND reversal.business_unit_id = $2 AND reversal.created_at > $3 AND earned.created_at > $3
ORDER BY reversal.id DESC
LIMIT 1"""


class FlagKind(StrEnum):
    VELOCITY = "VELOCITY"
    REFUND_LOOP = "REFUND_LOOP"
    SHARED_DEVICE = "SHARED_DEVICE"


class FlagStatus(StrEnum):
    OPEN = "OPEN"
    CLEARED = "CLEARED"
    CONFIRMED = "CONFIRMED"


@dataclass(frozen=True)
class Alert:
    kind: FlagKind
    subject: str
    member_id: int | None
    device_id: str | None
    unit_id: int | None
    detail: dict[str, Any]


def _ignore(event: str, label: str) -> None:
    return None


@dataclass
class EarnScreen:
    """One request's screening: Redis and the policy in; events admitted and alerts out."""

    redis: Any
    prefix: str
    policy: AbusePolicy = field(default_factory=AbusePolicy)
    observe: Callable[[str, str], None] = _ignore  # metrics: ("refused", limit), ("flag", kind)
    admitted: list[tuple[list[str], str]] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    settling: bool = False  # its settlement is registered on a unit of work
    notes: dict[str, Any] | None = None  # the velocity screen's notes; None: not screened yet

    def key(self, *parts: object) -> str:
        return self.prefix + "abuse:" + ":".join(str(p) for p in parts)


@dataclass(frozen=True)
class Screening:
    """What screening decided for one earn: a hold (pending until) and notes for the ledger."""

    hold_until: datetime | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def pending_until(self, default: datetime | None) -> datetime | None:
        """The lot's pending end: the unit's return window, or the hold if that ends later."""
        if self.hold_until is None:
            return default
        return max(default, self.hold_until) if default else self.hold_until


def device_reference(device_id: str | None) -> str | None:
    """The till's device id, trimmed; 1-64 characters or INVALID_INPUT; None when absent."""
    if device_id is None or not device_id.strip():
        return None
    device = device_id.strip()
    if len(device) > 64:
        raise DomainError(ErrorCode.INVALID_INPUT, "device id must be 1-64 characters", "deviceId")
    return device


async def screen_earn(
    uow: UnitOfWork,
    screen: EarnScreen | None,
    *,
    member_id: int,
    unit_id: int,
    device_id: str | None = None,
) -> Screening:
    """Under the member's lock: hold an earn that closes a refund loop (and screen velocity,
    when `screen_velocity` did not run before the lock). Without a screen: nothing to check."""
    if screen is None:
        return Screening()
    if screen.notes is None:
        await screen_velocity(
            uow, screen, member_id=member_id, unit_id=unit_id, device_id=device_id
        )
    device = device_reference(device_id)
    notes: dict[str, Any] = dict(screen.notes or {})
    hold = await _refund_loop(uow, screen, member_id=member_id, unit_id=unit_id, device=device)
    if hold is not None:
        notes["hold"] = hold
        return Screening(datetime.fromisoformat(hold["until"]), notes)
    return Screening(None, notes)


async def screen_velocity(
    uow: UnitOfWork,
    screen: EarnScreen | None,
    *,
    member_id: int,
    unit_id: int,
    device_id: str | None = None,
) -> None:
    """Refuse an earn over a velocity limit (LIMIT_REACHED) and note shared devices: Redis
    only, so it runs before the member's row is locked. Redis unreachable: the policy fails
    open (noted for the ledger entry) or closed (UNAVAILABLE)."""
    if screen is None:
        return
    _settle_after(uow, screen)
    device = device_reference(device_id)
    screen.notes = {"device": device} if device else {}
    try:
        await _velocity(uow, screen, member_id=member_id, unit_id=unit_id, device=device)
    except RedisError as error:
        screen.observe("unscreened", screen.policy.redis_down)
        if screen.policy.redis_down == "deny":
            raise DomainError(
                ErrorCode.UNAVAILABLE,
                "earning is paused: the velocity check cannot run; retry shortly",
                None,
            ) from None
        log.warning("abuse screening skipped, Redis unavailable: %s", type(error).__name__)
        screen.notes["screening"] = "skipped: redis unavailable"


async def _velocity(
    uow: UnitOfWork, screen: EarnScreen, *, member_id: int, unit_id: int, device: str | None
) -> None:
    policy = screen.policy
    if device and policy.device_member_limit > 0:
        members = await note_distinct(
            screen.redis,
            key=screen.key("device-members", device),
            member=str(member_id),
            now=uow.now,
            seconds=policy.device_member_window_seconds,
        )
        if members > policy.device_member_limit:
            screen.alerts.append(
                Alert(
                    FlagKind.SHARED_DEVICE,
                    f"device:{device}",
                    None,
                    device,
                    unit_id,
                    {"members": members, "lastMemberId": member_id},
                )
            )
    windows = []
    if policy.member_earn_limit > 0:
        windows.append(
            Window(
                screen.key("earn", "member", member_id),
                policy.member_earn_limit,
                policy.member_earn_window_seconds,
            )
        )
    if device and policy.device_earn_limit > 0:
        windows.append(
            Window(
                screen.key("earn", "device", device),
                policy.device_earn_limit,
                policy.device_earn_window_seconds,
            )
        )
    entry = new_entry(uow.now)
    full = await admit(screen.redis, windows=windows, now=uow.now, entry=entry)
    if full is None:
        screen.admitted.append(([w.key for w in windows], entry))
        return
    by_device = full.key == screen.key("earn", "device", device)
    screen.observe("refused", "device" if by_device else "member")
    screen.alerts.append(
        Alert(
            FlagKind.VELOCITY,
            f"device:{device}" if by_device else f"member:{member_id}",
            None if by_device else member_id,  # a device's flag is about no one member
            device,
            unit_id,
            {"limit": full.limit, "windowSeconds": full.seconds, "lastMemberId": member_id},
        )
    )
    who = f"device {device}" if by_device else "this member"
    raise DomainError(
        ErrorCode.LIMIT_REACHED,
        f"{who} reached {full.limit} earning events in {full.seconds // 60} minutes; try later",
        "deviceId" if by_device else "memberId",
    )


async def _refund_loop(
    uow: UnitOfWork, screen: EarnScreen, *, member_id: int, unit_id: int, device: str | None
) -> dict[str, Any] | None:
    """A refund of an earn by this member at this unit, both within the window: flag it (in this
    transaction) and return the hold for the new earn, if the policy holds points."""
    policy = screen.policy
    if policy.refund_loop_window_hours <= 0:
        return None
    since = uow.now - timedelta(hours=policy.refund_loop_window_hours)
    found = await (await uow.driver()).fetchrow(REFUND_LOOP_SQL, member_id, unit_id, since)
    if found is None:
        return None
    alert = Alert(
        FlagKind.REFUND_LOOP,
        f"member:{member_id}@unit:{unit_id}",
        member_id,
        device,
        unit_id,
        {"reversalId": found[0], "refundedEarnId": found[1], "refundedOrderRef": found[2]},
    )
    flag_id = await upsert_flag(uow, alert, screen)
    if policy.refund_loop_hold_days <= 0:
        return None
    until = uow.now + timedelta(days=policy.refund_loop_hold_days)
    return {"flag": flag_id, "until": until.isoformat()}


_UPSERT = text(
    """
    INSERT INTO abuse_flags
        (kind, subject, member_id, device_id, unit_id, detail, status, created_at, updated_at)
    VALUES (:kind, :subject, :member_id, :device_id, :unit_id,
            CAST(:detail AS jsonb) || '{"events": 1}'::jsonb, 'OPEN', :now, :now)
    ON CONFLICT (kind, subject) WHERE status = 'OPEN' DO UPDATE
    SET detail = abuse_flags.detail || EXCLUDED.detail || jsonb_build_object(
            'events', COALESCE((abuse_flags.detail ->> 'events')::int, 0) + 1),
        updated_at = EXCLUDED.updated_at
    RETURNING id, (xmax = 0) AS inserted
    """
)


async def upsert_flag(uow: UnitOfWork, alert: Alert, screen: EarnScreen | None = None) -> int:
    """Raise a flag, or count one more event on the open flag of the same kind and subject."""
    row = (
        await uow.session.execute(
            _UPSERT,
            {
                "kind": alert.kind.value,
                "subject": alert.subject[:100],
                "member_id": alert.member_id,
                "device_id": alert.device_id,
                "unit_id": alert.unit_id,
                "detail": json.dumps(alert.detail),
                "now": uow.now,
            },
        )
    ).one()
    if row.inserted and screen is not None:
        screen.observe("flag", alert.kind.value)
    return int(row.id)


async def record_alerts(uow: UnitOfWork, screen: EarnScreen) -> list[int]:
    """Write the screen's alerts as flags (after the earn's own unit of work); their ids."""
    ids = [await upsert_flag(uow, alert, screen) for alert in screen.alerts]
    screen.alerts.clear()
    return ids


async def settle(screen: EarnScreen, *, committed: bool) -> None:
    """After the earn's unit of work: an event admitted for a request that did not commit is
    taken back out of its windows (best effort: Redis may be down)."""
    admitted, screen.admitted = screen.admitted, []
    if committed:
        return
    for keys, entry in admitted:
        try:
            await forget(screen.redis, keys=keys, entry=entry)
        except RedisError:
            log.warning("could not take an uncommitted earn out of its velocity windows")


def _settle_after(uow: UnitOfWork, screen: EarnScreen) -> None:
    """Once per screen: settle it and write its alerts after the unit of work has ended."""
    if screen.settling:
        return
    screen.settling = True

    async def after(committed: bool) -> None:
        screen.settling = False
        screen.notes = None
        await settle(screen, committed=committed)
        if screen.alerts:
            async with unit_of_work(uow.sessions, now=uow.now, tz=uow.tz) as alerts:
                await record_alerts(alerts, screen)

    uow.on_end(after)


def screen_registration(
    uow: UnitOfWork,
    screen: EarnScreen | None,
    *,
    member_id: int,
    device_id: str | None,
    unit_id: int,
) -> None:
    """A member registers on a device: once the registration commits, the member counts toward
    the device's distinct members (SHARED_DEVICE past the limit)."""
    if screen is None or device_reference(device_id) is None:
        return

    async def count(committed: bool) -> None:
        if committed:
            await note_device_member(
                screen, now=uow.now, member_id=member_id, device_id=device_id, unit_id=unit_id
            )

    uow.on_end(count)
    _settle_after(uow, screen)  # registered after `count`: writes the alert it may raise


async def note_device_member(
    screen: EarnScreen, *, now: datetime, member_id: int, device_id: str | None, unit_id: int
) -> None:
    """A member registered on a device: counts toward the device's distinct members."""
    device = device_reference(device_id)
    limit = screen.policy.device_member_limit
    if device is None or limit <= 0:
        return
    try:
        members = await note_distinct(
            screen.redis,
            key=screen.key("device-members", device),
            member=str(member_id),
            now=now,
            seconds=screen.policy.device_member_window_seconds,
        )
    except RedisError:
        screen.observe("unscreened", "register")
        log.warning("shared-device check skipped at registration, Redis unavailable")
        return
    if members > limit:
        screen.alerts.append(
            Alert(
                FlagKind.SHARED_DEVICE,
                f"device:{device}",
                None,
                device,
                unit_id,
                {"members": members, "lastMemberId": member_id},
            )
        )
