"""Credentials at the edge: JWTs for members and operators, API keys for partner apps."""

from __future__ import annotations

import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta

import jwt

from app.domain.access.principals import ROLES, Principal
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


class VerifiedTokens:
    """Bearer tokens whose signature and claims verified, remembered per process until they
    expire: the mini-program sends the same token with every request, and verifying it again
    each time is a tenth of a small query's CPU. Keyed by (secret, token), so a token is only
    ever trusted under the secret that verified it; bounded, least recently used first out."""

    def __init__(self, maxsize: int = 4096) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[tuple[str, str], tuple[float, Principal]] = OrderedDict()

    def get(self, secret: str, token: str, now: float) -> Principal | None:
        entry = self._entries.get((secret, token))
        if entry is None:
            return None
        if now >= entry[0]:  # expired since it was verified: PyJWT would refuse it now
            del self._entries[(secret, token)]
            return None
        self._entries.move_to_end((secret, token))
        return entry[1]

    def put(self, secret: str, token: str, expires: float, principal: Principal) -> None:
        self._entries[(secret, token)] = (expires, principal)
        if len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)


_verified = VerifiedTokens()


def decode_token(settings: Settings, token: str) -> Principal:
    """The principal a bearer token names; InvalidToken when forged, expired or malformed."""
    remembered = _verified.get(settings.jwt_secret, token, time.time())
    if remembered is not None:
        return remembered
    principal, expires = _verify(settings, token)
    _verified.put(settings.jwt_secret, token, expires, principal)
    return principal


def _verify(settings: Settings, token: str) -> tuple[Principal, float]:
    """The principal and the expiry (epoch seconds) of a token, checked by PyJWT."""
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
    kind, expires = claims.get("kind"), float(claims["exp"])
    if kind == "member" and str(claims["sub"]).isdigit():
        member = Principal(kind="member", subject=claims["sub"], member_id=int(claims["sub"]))
        return member, expires
    if kind == "operator":
        roles = frozenset(r for r in claims.get("roles", []) if r in ROLES)
        return Principal(kind="operator", subject=claims["sub"], roles=roles), expires
    raise InvalidToken("unknown token kind")
