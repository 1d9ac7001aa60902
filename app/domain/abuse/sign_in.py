"""Sign-in attempts, rate limited: at most ABUSE_SIGN_IN_DEVICE_LIMIT per device and
ABUSE_SIGN_IN_OPENID_LIMIT per WeChat user (openid) in their windows, counted in Redis like
the earning limits (app.domain.abuse.velocity). Every attempt counts, successful or not: a
device guessing codes and a stolen code replayed are both attempts. Over a limit: LIMIT_REACHED
and WeChat is not called. Redis down follows ABUSE_REDIS_DOWN (allow: unscreened; deny:
UNAVAILABLE)."""

from __future__ import annotations

import logging
from datetime import datetime

from redis.exceptions import RedisError

from app.domain.abuse.screening import EarnScreen
from app.domain.abuse.velocity import Window, admit, new_entry
from app.domain.shared.errors import DomainError, ErrorCode

log = logging.getLogger(__name__)


async def admit_sign_in(
    screen: EarnScreen | None,
    *,
    now: datetime,
    device: str | None = None,
    openid: str | None = None,
) -> None:
    """Count one sign-in attempt for the device or the WeChat user; LIMIT_REACHED past a limit
    (the refused attempt is not counted)."""
    if screen is None:
        return
    policy = screen.policy
    windows, field = [], "deviceId"
    if device and policy.sign_in_device_limit > 0:
        windows.append(
            Window(
                screen.key("sign-in", "device", device),
                policy.sign_in_device_limit,
                policy.sign_in_device_window_seconds,
            )
        )
    if openid and policy.sign_in_openid_limit > 0:
        field = "code"
        windows.append(
            Window(
                screen.key("sign-in", "openid", openid),
                policy.sign_in_openid_limit,
                policy.sign_in_openid_window_seconds,
            )
        )
    if not windows:
        return
    try:
        full = await admit(screen.redis, windows=windows, now=now, entry=new_entry(now))
    except RedisError:
        screen.observe("unscreened", "sign-in")
        if policy.redis_down == "deny":
            raise DomainError(
                ErrorCode.UNAVAILABLE, "sign-in is paused: retry shortly", None
            ) from None
        log.warning("sign-in attempts not counted, Redis unavailable")
        return
    if full is not None:
        screen.observe("refused", "sign-in")
        raise DomainError(
            ErrorCode.LIMIT_REACHED,
            f"too many sign-in attempts ({full.limit} in {full.seconds // 60} minutes); try later",
            field,
        )
