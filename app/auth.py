"""Credentials at the edge: JWTs for members and operators, API keys for partner apps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from app.domain.principals import ROLES, Principal
from app.settings import Settings

ALGORITHM = "HS256"
ISSUER = "big-membership-gateway"


class InvalidToken(Exception):
    pass


def mint_member_token(settings: Settings, member_id: int, *, now: datetime | None = None) -> str:
    return _mint(settings, {"sub": str(member_id), "kind": "member"}, now)


def mint_operator_token(
    settings: Settings, subject: str, role: str, *, now: datetime | None = None
) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    return _mint(settings, {"sub": subject, "kind": "operator", "roles": [role]}, now)


def _mint(settings: Settings, claims: dict, now: datetime | None) -> str:
    issued = now or datetime.now(UTC)
    payload = {
        **claims,
        "iss": ISSUER,
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(seconds=settings.jwt_ttl_seconds)).timestamp()),
    }
    return jwt.encode(payload, settings.jwt_secret, algorithm=ALGORITHM)


def decode_token(settings: Settings, token: str) -> Principal:
    """The principal a bearer token names; InvalidToken when forged, expired or malformed."""
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "sub", "iss"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from None
    kind = claims.get("kind")
    if kind == "member" and str(claims["sub"]).isdigit():
        return Principal(kind="member", subject=claims["sub"], member_id=int(claims["sub"]))
    if kind == "operator":
        roles = frozenset(r for r in claims.get("roles", []) if r in ROLES)
        return Principal(kind="operator", subject=claims["sub"], roles=roles)
    raise InvalidToken("unknown token kind")
