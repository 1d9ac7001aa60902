"""An identity provider's published keys (JWKS) on loopback, counting the fetches."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ISSUER = "https://idp.group.test"


@dataclass
class IdentityProvider:
    keys: dict[str, Any] = field(default_factory=dict)  # kid -> private key
    fetches: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.app = Starlette(routes=[Route("/jwks.json", self.jwks)])

    def new_key(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def token(self, kid: str, member: str = "1", **claims: Any) -> str:
        payload = {
            "iss": ISSUER,
            "aud": "membership",
            "sub": member,
            "exp": int((datetime.now(UTC) + timedelta(minutes=5)).timestamp()),
            **claims,
        }
        return jwt.encode(payload, self.keys[kid], algorithm="RS256", headers={"kid": kid})

    async def jwks(self, request: Request) -> JSONResponse:
        self.fetches += 1
        published = [
            {
                **jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True),
                "kid": kid,
                "alg": "RS256",
                "use": "sig",
            }
            for kid, key in self.keys.items()
        ]
        return JSONResponse({"keys": published})
