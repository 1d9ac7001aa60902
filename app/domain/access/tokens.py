"""Credentials at the edge: JWTs for members and operators, API keys for partner apps.

Every token the gateway mints names its issuer (`iss`), its audience (`aud`) and the key that
signed it (the `kid` header), so the signing key can be rotated: JWT_SECRET under JWT_KEY_ID
signs, and the keys in JWT_PREVIOUS_KEYS still verify the tokens they signed until those
expire. A member's access token from a sign-in also names its session (`sid`,
app.domain.members.sessions). Tokens of an external identity provider (a group that already
runs one) are verified with its published keys (JWKS), looked up by the caller.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from app.domain.access.principals import ROLES, Principal
from app.domain.shared.ids import parse_id
from app.settings import Settings

ALGORITHM = "HS256"
ISSUER = "big-membership-gateway"  # the default JWT_ISSUER
AUDIENCE = "big-membership-gateway"  # the default JWT_AUDIENCE
EXTERNAL_ALGORITHMS = ("RS256", "ES256", "PS256", "EdDSA")  # never HS*: a JWKS key is public


class InvalidToken(Exception):
    """A bearer token the gateway will not honour; `expired` tells "refresh" from "sign in"."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


def _refused(exc: jwt.PyJWTError) -> InvalidToken:
    return InvalidToken(str(exc), expired=isinstance(exc, jwt.ExpiredSignatureError))


def mint_member_token(
    settings: Settings,
    member_id: int,
    *,
    now: datetime | None = None,
    session_id: str | None = None,
    ttl_seconds: int | None = None,
) -> str:
    """A member's bearer token: the CLI's (JWT_TTL) or a session's access token (`sid`)."""
    claims: dict[str, Any] = {"sub": str(member_id), "kind": "member"}
    if session_id is not None:
        claims["sid"] = session_id
    return _mint(settings, claims, now, ttl_seconds)


def mint_operator_token(
    settings: Settings, subject: str, role: str, *, now: datetime | None = None
) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    return _mint(settings, {"sub": subject, "kind": "operator", "roles": [role]}, now, None)


def _mint(settings: Settings, claims: dict, now: datetime | None, ttl: int | None) -> str:
    issued = now or datetime.now(UTC)
    payload = {
        **claims,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(seconds=ttl or settings.jwt_ttl_seconds)).timestamp()),
    }
    return jwt.encode(
        payload, settings.jwt_secret, algorithm=ALGORITHM, headers={"kid": settings.jwt_key_id}
    )


def verification_keys(settings: Settings) -> dict[str, str]:
    """The secrets that verify, by key id: the signing key and the previous ones."""
    keys = {}
    for entry in settings.jwt_previous_keys.split():
        kid, _, secret = entry.partition(":")
        if kid and secret:
            keys[kid] = secret
    keys[settings.jwt_key_id] = settings.jwt_secret
    return keys


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
    """The principal a bearer token names; InvalidToken when forged, expired or malformed,
    signed by a key the gateway does not hold, or meant for another issuer or audience."""
    secret = verification_keys(settings).get(_key_id(token) or settings.jwt_key_id)
    if secret is None:
        raise InvalidToken("unknown signing key")
    remembered = _verified.get(secret, token, time.time())
    if remembered is not None:
        return remembered
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            options={"require": ["exp", "sub", "iss", "aud"]},
        )
    except jwt.PyJWTError as exc:
        raise _refused(exc) from None
    principal = _principal(claims)
    _verified.put(secret, token, float(claims["exp"]), principal)
    return principal


def _key_id(token: str) -> str | None:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from None
    return kid if isinstance(kid, str) else None


def _principal(claims: dict[str, Any]) -> Principal:
    kind, subject, expires = claims.get("kind"), str(claims["sub"]), float(claims["exp"])
    if kind == "member":
        member_id = parse_id(subject)
        if member_id is None:
            raise InvalidToken("the token names no member")
        sid = claims.get("sid")
        return Principal(
            kind="member",
            subject=str(member_id),
            member_id=member_id,
            session_id=sid if isinstance(sid, str) else None,
            expires_at=expires,
        )
    if kind == "operator":
        roles = claims.get("roles")
        if not isinstance(roles, list) or not subject or "\x00" in subject:
            raise InvalidToken("malformed operator token")
        allowed = frozenset(r for r in roles if isinstance(r, str) and r in ROLES)
        return Principal(kind="operator", subject=subject, roles=allowed, expires_at=expires)
    raise InvalidToken("unknown token kind")


# --- An external identity provider's member tokens --------------------------------------------


def is_external(settings: Settings, token: str) -> bool:
    """Whether a token claims to come from the configured external identity provider (read
    without verifying: it only picks the way it is verified)."""
    if not (settings.jwks_url and settings.jwks_issuer):
        return False
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    return claims.get("iss") == settings.jwks_issuer


KeyLookup = Callable[[str], Awaitable[Any]]  # key id -> a PyJWK, or None when unknown


async def decode_external_token(settings: Settings, token: str, find_key: KeyLookup) -> Principal:
    """A member token of the external identity provider, verified with its published key
    (`find_key(kid)`); the member id is in JWKS_MEMBER_CLAIM. InvalidToken otherwise."""
    kid = _key_id(token)
    if kid is None:
        raise InvalidToken("an external token must name its key")
    key = await find_key(kid)
    if key is None:
        raise InvalidToken("unknown signing key")
    remembered = _verified.get("jwks:" + kid, token, time.time())
    if remembered is not None:
        return remembered
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=list(EXTERNAL_ALGORITHMS),
            issuer=settings.jwks_issuer,
            audience=settings.jwks_audience or None,
            options={
                "require": ["exp", "iss"],
                "verify_aud": bool(settings.jwks_audience),
            },
        )
    except jwt.PyJWTError as exc:
        raise _refused(exc) from None
    member_id = parse_id(str(claims.get(settings.jwks_member_claim) or ""))
    if member_id is None:
        raise InvalidToken("the token names no member")
    principal = Principal(
        kind="member",
        subject=str(member_id),
        member_id=member_id,
        expires_at=float(claims["exp"]),
    )
    _verified.put("jwks:" + kid, token, float(claims["exp"]), principal)
    return principal
