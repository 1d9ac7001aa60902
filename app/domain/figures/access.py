"""Who may read figures: operators (ops) and finance every figure; a partner key with the
`read` scope the programme figures of its own unit only; members and anyone else nothing."""

from __future__ import annotations

from app.domain.access.principals import Principal
from app.domain.shared.errors import PermissionDenied

READ_SCOPE = "read"


def is_figures_reader(principal: Principal) -> bool:
    """Ops, finance or a unit's read key: may call a figures field at all."""
    return (
        principal.has_role("ops")
        or principal.has_role("finance")
        or principal.has_scope(READ_SCOPE)
    )


def check_unit_figures(principal: Principal, unit_id: int | None) -> None:
    """PermissionDenied unless `principal` may read the figures of `unit_id` (None: group)."""
    if principal.has_role("ops") or principal.has_role("finance"):
        return
    if principal.has_scope(READ_SCOPE) and unit_id is not None and unit_id == principal.unit_id:
        return
    raise PermissionDenied("A unit's key reads its own unit's figures only.")


def check_group_figures(principal: Principal) -> None:
    """PermissionDenied unless `principal` may read figures across units (ops, finance)."""
    if not (principal.has_role("ops") or principal.has_role("finance")):
        raise PermissionDenied("Only operators and finance read figures across units.")
