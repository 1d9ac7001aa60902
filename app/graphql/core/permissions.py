"""Field permissions: coarse checks on who may call; per-member checks live in the domain."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from app.domain.access.principals import Principal
from app.graphql.core.errors import unauthenticated


def _principal(info: Any) -> Principal:
    principal = info.context.principal
    if principal is None:
        raise unauthenticated()
    return principal


class Forbidding(BasePermission):
    """FORBIDDEN unless `allows(principal)`: the base of every permission class, here and in
    the contexts' own schema modules."""

    message = "Not allowed for this caller."
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return self.allows(_principal(info))

    def allows(self, principal: Principal) -> bool:
        raise NotImplementedError


class IsAuthenticated(Forbidding):
    def allows(self, principal: Principal) -> bool:
        return True


class IsMember(Forbidding):
    message = "Only a member token may do this."

    def allows(self, principal: Principal) -> bool:
        return principal.is_member


class CanReadMembers(Forbidding):
    """Members (themself), ops, and partners with the read scope."""

    def allows(self, principal: Principal) -> bool:
        return principal.is_member or principal.has_role("ops") or principal.has_scope("read")


class IsOps(Forbidding):
    message = "Only operators may do this."

    def allows(self, principal: Principal) -> bool:
        return principal.has_role("ops")


class CanResolveCodes(Forbidding):
    message = "Only a partner till may resolve member codes."

    def allows(self, principal: Principal) -> bool:
        return principal.is_partner or principal.has_role("ops")


class CanRegister(Forbidding):
    message = "Registering members needs the earn scope (or ops)."

    def allows(self, principal: Principal) -> bool:
        return principal.has_scope("earn") or principal.has_role("ops")


class CanBuyRights(Forbidding):
    """A member for themself; ops for anyone (customer service)."""

    def allows(self, principal: Principal) -> bool:
        return principal.is_member or principal.has_role("ops")


class CanWriteOff(Forbidding):
    """A partner key with the write-off scope, or ops."""

    def allows(self, principal: Principal) -> bool:
        return principal.has_scope("write-off") or principal.has_role("ops")


class CanEarn(Forbidding):
    def allows(self, principal: Principal) -> bool:
        return principal.has_scope("earn") or principal.has_role("ops")


class CanSpend(Forbidding):
    def allows(self, principal: Principal) -> bool:
        return principal.has_scope("spend") or principal.has_role("ops")


class CanReverse(Forbidding):
    def allows(self, principal: Principal) -> bool:
        return (
            principal.has_scope("earn") or principal.has_scope("spend") or principal.has_role("ops")
        )


class CanWatchPoints(Forbidding):
    """A member watches their own points (memberId omitted or their own); ops any member's."""

    message = "A member may watch only their own points."

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        principal = _principal(info)
        if principal.is_member:
            wanted = kwargs.get("member_id")
            return wanted is None or str(wanted).strip() == str(principal.member_id)
        return principal.has_role("ops")
