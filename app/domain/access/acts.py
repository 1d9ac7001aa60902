"""Who may act for which member, at which unit, with which scope: one question, one answer.

- A member acts only for themself (naming no member means themself).
- A partner key acts only at its own unit, only with a scope the act needs, and only for
  members presented to that unit — registered there, known by its customer id, or scanned at
  its till (app.domain.members.identity). Whether a partner may see a member is decided before
  whether the member exists, so a partner cannot tell an unknown member from one it may not
  see: both are FORBIDDEN.
- An operator with the `ops` role acts for any member at any unit; an unknown member is
  NOT_FOUND.
- Anyone else (finance, another role) acts for no member.
- What a caller sees of a member it may see: a partner sees only its own unit's transactions
  (the mall's key its merchants' too: they book under the mall); the member and operators see
  all of them (`transactions_seen_at`).

Resolvers call `authorise` once per act with what the act concerns; the coarse check of who may
call an operation at all stays on the GraphQL field (`permission_classes`).
"""

from __future__ import annotations

from enum import Enum

from app.domain.access.principals import Principal, can_see_member
from app.domain.members.identity import get_member
from app.domain.shared.errors import DomainError, ErrorCode, PermissionDenied
from app.domain.shared.ids import parse_id
from app.platform.uow import UnitOfWork


class _Nobody(Enum):
    NOBODY = "NOBODY"


NO_MEMBER = _Nobody.NOBODY  # the act concerns no member (registering one, say)


def sees_provider_costs(principal: Principal | None, unit_id: int) -> bool:
    """What a unit gives up for what it offers is its own business: operators and the unit's
    own keys see it; members, other units and anonymous callers do not."""
    return principal is not None and (
        principal.kind == "operator" or (principal.is_partner and principal.unit_id == unit_id)
    )


ALL_UNITS = None  # `transactions_seen_at`: no unit filter


def transactions_seen_at(principal: Principal) -> int | None:
    """The one unit whose points transactions `principal` sees when it lists a member's
    (ALL_UNITS: every unit's). A partner key sees its own format's actions only, as it acts only
    there: a hotel's front desk does not learn where else the guest shops. A merchant under the
    mall books under the mall's unit, so the mall's key sees its merchants' transactions."""
    if principal.is_partner:
        # a key bound to no unit (none is issued so) sees no unit's: -1 names no row
        return principal.unit_id if principal.unit_id is not None else -1
    return ALL_UNITS


async def authorise(
    uow: UnitOfWork,
    principal: Principal,
    *,
    member_id: int | str | _Nobody | None = NO_MEMBER,
    unit_id: int | None = None,
    scope: str | None = None,
) -> int | None:
    """PermissionDenied unless `principal` may do an act for `member_id` (None: the caller
    themself, for a member token) at `unit_id` with `scope`; returns the member's id when the
    act concerns a member."""
    if principal.is_partner:
        if unit_id is not None and principal.unit_id != unit_id:
            raise PermissionDenied("a partner key acts only for its own business unit")
        if scope is not None and not principal.has_scope(scope):
            raise PermissionDenied(f"this needs the {scope} scope")
    if member_id is NO_MEMBER:
        return None
    if principal.is_member:
        assert principal.member_id is not None
        if member_id is not None and str(member_id).strip() != str(principal.member_id):
            raise PermissionDenied("a member acts only for themself")
        return principal.member_id
    text = str(member_id if member_id is not None else "").strip()
    if not text:
        raise DomainError(ErrorCode.INVALID_INPUT, "name the member", "memberId")
    if principal.has_role("ops"):
        member = await get_member(uow, text)  # an unknown member is NOT_FOUND
        assert member.id is not None
        return member.id
    wanted = parse_id(text) or -1
    if not await can_see_member(uow, principal, wanted):
        raise PermissionDenied("This member is not visible to the caller.")
    return wanted
