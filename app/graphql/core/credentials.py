"""Credentials at the edge say what is wrong with them.

No credentials at all: the caller is anonymous (public fields answer, the rest is
UNAUTHENTICATED). Credentials that do not authenticate are never served as anonymous: the
request is refused whole with HTTP 401, a `WWW-Authenticate` header and one GraphQL error,
`extensions.code = UNAUTHENTICATED` with a `reason` a client can act on:

- `TOKEN_EXPIRED`: the bearer token was good and has expired: refresh it;
- `INVALID_TOKEN`: forged, malformed, signed by a key the gateway does not hold, meant for
  another issuer or audience, or naming no valid subject: sign in again;
- `UNKNOWN_MEMBER`: a well-signed member token of a member who does not exist;
- `INVALID_API_KEY`: a partner key that is unknown, malformed or revoked.

Over a websocket, the same refusals close the socket with 4403 (app.main). A database that
cannot be reached while a partner key or a member is looked up is `UNAVAILABLE` (HTTP 503,
with the request id), not a raw 500.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any, TypeVar

from graphql import GraphQLError
from starlette.responses import JSONResponse

from app.bootstrap import Services
from app.domain.access.partner_keys import authenticate_partner_key
from app.domain.access.principals import Principal
from app.domain.access.tokens import (
    InvalidToken,
    decode_external_token,
    decode_token,
    is_external,
)
from app.domain.members.identity import member_exists
from app.domain.shared.configuration import configuration, kept_stamp

log = logging.getLogger(__name__)
T = TypeVar("T")

REALM = "big-membership-gateway"


class BadCredentials(Exception):
    """Credentials were presented and do not authenticate."""

    def __init__(self, reason: str, message: str, *, scheme: str = "Bearer") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.scheme = scheme

    def www_authenticate(self) -> str:
        if self.scheme == "Bearer":
            description = self.message.replace('"', "'")
            return (
                f'Bearer realm="{REALM}", error="invalid_token", error_description="{description}"'
            )
        return f'ApiKey realm="{REALM}", header="X-Api-Key"'

    def response(self, request_id: str) -> JSONResponse:
        return JSONResponse(
            {"errors": [self.formatted(request_id)]},
            status_code=401,
            headers={"WWW-Authenticate": self.www_authenticate()},
            media_type="application/json",
        )

    def formatted(self, request_id: str) -> dict[str, Any]:
        extensions = {"code": "UNAUTHENTICATED", "reason": self.reason, "requestId": request_id}
        return {"message": self.message, "extensions": extensions}


class CredentialsUnavailable(Exception):
    """The database could not be asked whether credentials are good."""

    @staticmethod
    def response(request_id: str) -> JSONResponse:
        error = {
            "message": "Credentials could not be checked; try again.",
            "extensions": {"code": "UNAVAILABLE", "requestId": request_id},
        }
        return JSONResponse({"errors": [error]}, status_code=503, headers={"Retry-After": "1"})


async def authenticate(services: Services, headers: Any) -> Principal | None:
    """The caller named by a bearer token or a partner API key; None without credentials.
    BadCredentials when they do not authenticate, CredentialsUnavailable when the database
    cannot tell."""
    authorization = (headers.get("authorization") or "").strip()
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise BadCredentials("INVALID_TOKEN", "Send `Authorization: Bearer <token>`.")
        principal = await _bearer(services, token.strip())
        if principal.member_id is not None:
            await _check_member(services, principal.member_id)
        return principal
    api_key = headers.get("x-api-key")
    if api_key is not None:
        return await _partner(services, api_key)
    return None


async def _bearer(services: Services, token: str) -> Principal:
    settings = services.settings
    try:
        keys = services.identity_keys
        if keys is not None and is_external(settings, token):
            return await decode_external_token(settings, token, keys.find)
        return decode_token(settings, token)
    except InvalidToken as exc:
        if exc.expired:
            raise BadCredentials("TOKEN_EXPIRED", "The token has expired; refresh it.") from None
        raise BadCredentials("INVALID_TOKEN", "The token is not valid; sign in again.") from None


async def _check_member(services: Services, member_id: int) -> None:
    known = services.known_members
    if member_id in known:
        return
    try:
        async with services.uow() as uow:
            exists = await member_exists(uow, member_id)
    except Exception as exc:
        log.warning("member %s could not be looked up", member_id, exc_info=True)
        raise CredentialsUnavailable() from exc
    if not exists:
        raise BadCredentials("UNKNOWN_MEMBER", "The token names no member; sign in again.")
    known.add(member_id)


async def _partner(services: Services, api_key: str) -> Principal:
    now = services.clock()
    engine = services.sessions.kw["bind"]
    # remembered under the configuration version this worker holds: a revocation moves it
    principal = services.partner_keys.get(api_key, now, kept_stamp(engine))
    if principal is not None:
        return principal
    try:
        async with services.uow(now) as uow:
            stamp = (await configuration(uow)).stamp  # read before the key: never older
            principal = await authenticate_partner_key(uow, api_key)
    except Exception as exc:
        log.warning("partner key could not be looked up", exc_info=True)
        raise CredentialsUnavailable() from exc
    if principal is None:
        raise BadCredentials(
            "INVALID_API_KEY", "The API key is unknown or revoked.", scheme="ApiKey"
        )
    services.partner_keys.put(api_key, principal, now, stamp)
    return principal


def token_expired() -> GraphQLError:
    """What ends a subscription whose token expired while it was open."""
    return GraphQLError(
        "The token has expired; refresh it and subscribe again.",
        extensions={"code": "UNAUTHENTICATED", "reason": "TOKEN_EXPIRED"},
    )


async def until_expiry(
    stream: AsyncGenerator[T, None], expires_at: float | None
) -> AsyncGenerator[T, None]:
    """The items of `stream` until the caller's credentials expire (Unix time; None: never),
    then `token_expired()`: a subscription does not outlive the token that opened it."""
    async with aclosing(stream):
        while True:
            if expires_at is None:
                item = await anext(stream)
            else:
                remaining = expires_at - time.time()
                if remaining <= 0:
                    raise token_expired()
                try:
                    async with asyncio.timeout(remaining):
                        item = await anext(stream)
                except TimeoutError:
                    raise token_expired() from None
            yield item
