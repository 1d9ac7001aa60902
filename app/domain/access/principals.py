"""Who is calling, and what they may see: a member only themself, a partner only members
presented to its unit, operators by role."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.domain.members.identity import unit_knows_member
from app.platform.uow import UnitOfWork

SCOPES = ("earn", "spend", "write-off", "read", "webhooks", "settlement", "payments")
ROLES = ("ops", "finance")


@dataclass(frozen=True)
class Principal:
    kind: str  # "member" | "operator" | "partner"
    subject: str
    member_id: int | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    unit_id: int | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    session_id: str | None = None  # a member's sign-in session (docs/sign-in.md)
    expires_at: float | None = None  # when the token expires (Unix time); None: a partner key

    @property
    def caller(self) -> str:
        """Stable identity for idempotency keys and the ledger's `caller` column."""
        return f"{self.kind}:{self.subject}"

    @property
    def is_member(self) -> bool:
        return self.kind == "member"

    @property
    def is_partner(self) -> bool:
        return self.kind == "partner"

    def has_role(self, role: str) -> bool:
        return self.kind == "operator" and role in self.roles

    def has_scope(self, scope: str) -> bool:
        return self.kind == "partner" and scope in self.scopes


async def can_see_member(uow: UnitOfWork, principal: Principal, member_id: int) -> bool:
    if principal.is_member:
        return principal.member_id == member_id
    if principal.has_role("ops"):
        return True
    if principal.is_partner and principal.unit_id is not None:
        return await unit_knows_member(uow, unit_id=principal.unit_id, member_id=member_id)
    return False
