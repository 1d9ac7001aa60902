"""The warning jobs: POINTS_EXPIRING once per member and day of expiry within the horizon,
TIER_DOWNGRADE_WARNING once per end of validity that would lower the tier; both safe to run
twice, both through the outbox (so webhooks carry them)."""

from __future__ import annotations

import json
from datetime import timedelta

from app.domain.tiers.standing import grant_tier
from app.jobs.warnings import warn_expiring_points, warn_tier_downgrades
from app.settings import Settings
from tests.conftest import NOW
from tests.helpers import earn, lots_of, new_member

SETTINGS = Settings(points_expiring_warning_days=30, tier_downgrade_warning_days=30)


async def events_of(uow_factory, type_: str) -> list[dict]:
    async with uow_factory() as uow:
        rows = await (await uow.driver()).fetch(
            "SELECT member_id, payload FROM outbox_events WHERE type = $1 ORDER BY id", type_
        )
    return [{"member_id": r["member_id"], **_as_dict(r["payload"])} for r in rows]


def _as_dict(payload) -> dict:
    return json.loads(payload) if isinstance(payload, str) else dict(payload)


async def test_points_expiring_within_the_horizon_are_warned_of_once(units, sessions, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        await earn(uow, member, "100.00", unit="HOTEL")
        await earn(uow, member, "50.00", unit="HOTEL")
    async with uow_factory() as uow:
        [first, second] = await lots_of(uow, member)
    expires = first.expires_at
    assert expires == second.expires_at

    early = expires - timedelta(days=31)
    assert await warn_expiring_points(sessions, settings=SETTINGS, now=early) == 0
    soon = expires - timedelta(days=10)
    assert await warn_expiring_points(sessions, settings=SETTINGS, now=soon) == 1
    assert await warn_expiring_points(sessions, settings=SETTINGS, now=soon) == 0  # twice: once
    [warning] = await events_of(uow_factory, "POINTS_EXPIRING")
    assert warning["member_id"] == member
    assert warning["points"] == first.remaining + second.remaining
    assert warning["expiresAt"] == expires.isoformat()
    assert warning["expiresOn"] == expires.astimezone(SETTINGS.tz).date().isoformat()
    assert warning["withinDays"] == 30


async def test_a_tier_ending_below_retention_is_warned_of_once(units, sessions, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        await grant_tier(
            uow,
            member_id=member,
            tier="GOLD",
            until=NOW + timedelta(days=40),
            reason="launch guest",
            actor="ops",
        )
    assert await warn_tier_downgrades(sessions, settings=SETTINGS, now=NOW) == 0  # 40 days out
    later = NOW + timedelta(days=20)
    assert await warn_tier_downgrades(sessions, settings=SETTINGS, now=later) == 1
    assert await warn_tier_downgrades(sessions, settings=SETTINGS, now=later) == 0
    [warning] = await events_of(uow_factory, "TIER_DOWNGRADE_WARNING")
    assert warning["member_id"] == member
    assert (warning["tier"], warning["dropsTo"]) == ("GOLD", "NORMAL")
    assert warning["growthValue"] == "0"
    assert warning["remaining"] == warning["retainThreshold"]


async def test_a_tier_the_window_keeps_is_not_warned_of(units, sessions, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        await earn(uow, member, "6000.00", unit="MALL")  # silver, and its retention met
    assert (
        await warn_tier_downgrades(sessions, settings=SETTINGS, now=NOW + timedelta(days=340)) == 0
    )
