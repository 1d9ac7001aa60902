"""GraphQL over ASGI: the real app on the test database, credentials minted per role."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.auth import mint_member_token, mint_operator_token
from app.domain.partners import create_partner_key
from app.graphql.context import Services
from app.main import create_app
from app.settings import Settings
from tests.conftest import TZ


@pytest.fixture
def settings(redis_prefix) -> Settings:
    return Settings(redis_prefix=redis_prefix)


@pytest.fixture
def services(settings, sessions, redis_client, clock) -> Services:
    return Services(
        settings=settings, sessions=sessions, redis=redis_client, clock=lambda: clock.now
    )


@pytest.fixture
async def client(services):
    app = create_app(services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield http


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def __call__(
        self, query: str, variables: dict | None = None, *, as_: dict | None = None
    ) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=as_ or {}
        )
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def gql(client) -> GraphQLClient:
    return GraphQLClient(client)


class Credentials:
    """Headers for each kind of caller."""

    def __init__(self, settings: Settings, uow_factory) -> None:
        self.settings = settings
        self.uow_factory = uow_factory

    def member(self, member_id: int) -> dict:
        return {"Authorization": f"Bearer {mint_member_token(self.settings, member_id)}"}

    def operator(self, role: str = "ops") -> dict:
        return {"Authorization": f"Bearer {mint_operator_token(self.settings, role + '-1', role)}"}

    async def partner(self, unit: str, scopes: str = "earn,spend,write-off,read") -> dict:
        async with self.uow_factory() as uow:
            key, _ = await create_partner_key(uow, business_unit=unit, scopes=scopes.split(","))
        return {"X-Api-Key": key}


@pytest.fixture
def creds(settings, uow_factory) -> Credentials:
    return Credentials(settings, uow_factory)


__all__ = ["TZ"]
