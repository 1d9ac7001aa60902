"""Activity rules as data: points, caps and the check-in streak per kind; operators edit them.

A rule's daily cap counts rewarded events per local day (group time zone), its lifetime cap
all of the member's rewarded events of that kind; for REFERRAL the lifetime cap counts the
rewards one referrer may earn. A missing or inactive rule grants nothing (the engine's grants
are skipped, a member's request is refused).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.operator_log import log_operator_action
from app.models import ActivityRule
from app.platform.uow import UnitOfWork


class ActivityKind(StrEnum):
    REGISTRATION = "REGISTRATION"
    CHECK_IN = "CHECK_IN"
    SHARE = "SHARE"
    REVIEW = "REVIEW"
    SURVEY = "SURVEY"
    REFERRAL = "REFERRAL"
    BIRTHDAY = "BIRTHDAY"


# What a member (or a till / operator for them) reports; the others the engine grants itself.
RECORDABLE = (ActivityKind.CHECK_IN, ActivityKind.SHARE, ActivityKind.REVIEW, ActivityKind.SURVEY)

# kind: (points, daily cap, lifetime cap, streak days, streak bonus)
DEMO_RULES: dict[ActivityKind, tuple[int, int | None, int | None, int | None, int | None]] = {
    ActivityKind.REGISTRATION: (100, None, 1, None, None),
    ActivityKind.CHECK_IN: (10, 1, None, 7, 200),
    ActivityKind.SHARE: (50, 2, 100, None, None),
    ActivityKind.REVIEW: (30, 3, None, None, None),
    ActivityKind.SURVEY: (20, 1, 50, None, None),
    ActivityKind.REFERRAL: (200, None, 20, None, None),
    ActivityKind.BIRTHDAY: (188, None, None, None, None),
}

EDITABLE = ("points", "daily_cap", "lifetime_cap", "streak_days", "streak_bonus", "active")


def parse_kind(raw: str, field: str = "kind") -> ActivityKind:
    """An activity kind by name, or INVALID_INPUT."""
    try:
        return ActivityKind(str(raw).strip().upper())
    except ValueError:
        raise DomainError(ErrorCode.INVALID_INPUT, f"unknown activity {raw!r}", field) from None


async def seed_activity_rules(uow: UnitOfWork) -> None:
    """Insert the demo rules (rules already there are left as operators set them)."""
    for kind, (points, daily, lifetime, streak_days, streak_bonus) in DEMO_RULES.items():
        await uow.session.execute(
            insert(ActivityRule)
            .values(
                kind=kind.value,
                points=points,
                daily_cap=daily,
                lifetime_cap=lifetime,
                streak_days=streak_days,
                streak_bonus=streak_bonus,
                active=True,
                updated_at=uow.now,
            )
            .on_conflict_do_nothing(index_elements=["kind"])
        )


async def list_rules(uow: UnitOfWork) -> list[ActivityRule]:
    """Every rule, in the order of ActivityKind."""
    rows = {row.kind: row for row in await uow.session.scalars(select(ActivityRule))}
    return [rows[kind.value] for kind in ActivityKind if kind.value in rows]


async def get_rule(uow: UnitOfWork, kind: str) -> ActivityRule:
    """The rule for `kind`, active or not, or NOT_FOUND."""
    rule = await uow.session.get(ActivityRule, parse_kind(kind).value)
    if rule is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no rule for {kind}", "kind")
    return rule


async def active_rule(uow: UnitOfWork, kind: ActivityKind) -> ActivityRule | None:
    """The rule for `kind` if there is one and it is active."""
    rule = await uow.session.get(ActivityRule, kind.value)
    return rule if rule is not None and rule.active else None


async def update_rule(
    uow: UnitOfWork, *, kind: str, changes: dict[str, Any], actor: str, reason: str
) -> ActivityRule:
    """Change a rule's values (only the fields in `changes`); logged in the operators' trail."""
    activity = parse_kind(kind)
    reason = (reason or "").strip()
    if not 1 <= len(reason) <= 200:
        raise DomainError(ErrorCode.INVALID_INPUT, "reason must be 1-200 characters", "reason")
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise AssertionError(f"not editable: {sorted(unknown)}")
    rule = (
        await uow.session.scalars(
            select(ActivityRule)
            .where(ActivityRule.kind == activity.value)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if rule is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no rule for {activity.value}", "kind")
    before = {name: getattr(rule, name) for name in EDITABLE}
    after = {**before, **changes}
    _validate(activity, after)
    for name, value in changes.items():
        setattr(rule, name, value)
    rule.updated_at = uow.now
    await log_operator_action(
        uow,
        actor=actor,
        action="activity_rule.update",
        target_kind="activity_rule",
        target_id=activity.value,
        reason=reason,
        detail={
            "from": {k: v for k, v in before.items() if k in changes},
            "to": {k: after[k] for k in changes},
        },
    )
    await uow.session.flush()
    return rule


def _validate(kind: ActivityKind, values: dict[str, Any]) -> None:
    def refuse(field: str, message: str) -> None:
        raise DomainError(ErrorCode.INVALID_INPUT, message, field)

    if values["points"] is None or values["points"] < 0:
        refuse("points", "points must be 0 or more")
    if values["active"] is None:
        refuse("active", "active must be true or false")
    for name, field in (("daily_cap", "dailyCap"), ("lifetime_cap", "lifetimeCap")):
        if values[name] is not None and values[name] < 1:
            refuse(field, "a cap must be 1 or more (omit it for no cap)")
    streak = (values["streak_days"], values["streak_bonus"])
    if kind != ActivityKind.CHECK_IN and streak != (None, None):
        refuse("streakDays", "only CHECK_IN has a streak")
    if kind == ActivityKind.CHECK_IN:
        if values["daily_cap"] != 1:
            refuse("dailyCap", "a check-in counts once per local day: its daily cap is 1")
        if (streak[0] is None) != (streak[1] is None):
            refuse("streakBonus", "streak days and streak bonus go together")
        if streak[0] is not None and streak[0] < 2:
            refuse("streakDays", "a streak is 2 days or more")
        if streak[1] is not None and streak[1] < 0:
            refuse("streakBonus", "the streak bonus must be 0 or more")
    if kind == ActivityKind.REGISTRATION and values["lifetime_cap"] != 1:
        refuse("lifetimeCap", "registration is rewarded once: its lifetime cap is 1")
