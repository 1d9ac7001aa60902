"""GraphQL over ASGI: the real app on the test database, credentials minted per role."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest

from app.bootstrap import Services
from app.domain.access.partner_keys import create_partner_key
from app.domain.access.tokens import mint_member_token, mint_operator_token
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
    # Mark what this test's requests relayed now, so the marking cannot run inside the next
    # test (where a statement count would see it).
    await services.drain()


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


async def refusal(client, headers: dict, query: str = "{ businessUnits { id } }") -> dict:
    """A request with bad credentials: 401 with WWW-Authenticate and one UNAUTHENTICATED."""
    response = await client.post("/graphql", json={"query": query}, headers=headers)
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    scheme = "ApiKey" if "X-Api-Key" in headers else "Bearer"
    assert challenge.startswith(f'{scheme} realm="big-membership-gateway"'), challenge
    body = response.json()
    assert "data" not in body, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]
    return error


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


# --- Shared documents and a small client for the till operations ------------------------------

REGISTER = """
mutation($input: RegisterMemberInput!) {
  registerMember(input: $input) {
    member { id displayName phoneMasked } errors { code field message }
  }
}"""
EARN = """
mutation($input: EarnPointsInput!) {
  earnPoints(input: $input) {
    transaction { id kind points orderRef businessUnit { code } }
    points balance { available pending } replayed
    errors { code field message }
  }
}"""
SPEND = """
mutation($input: SpendPointsInput!) {
  spendPoints(input: $input) {
    transaction { id points } pointsSpent cnyDeducted cashDue balance { available } replayed
    errors { code field message }
  }
}"""
REVERSE = """
mutation($input: ReverseTransactionInput!) {
  reverseTransaction(input: $input) {
    transaction { id kind points } balance { available debt } replayed
    errors { code field message }
  }
}"""
MEMBER_STATE = """
query($id: ID!) {
  member(id: $id) {
    points { available pending debt }
    transactions(first: 100) { edges { node { id kind points } } }
  }
}"""


class Api:
    """The till operations over GraphQL, with defaults a test overrides only where it matters."""

    def __init__(self, gql: GraphQLClient, creds: Credentials) -> None:
        self.gql = gql
        self.creds = creds
        self._refs = itertools.count(1)

    def ref(self, prefix: str = "O") -> str:
        return f"{prefix}{next(self._refs)}"

    async def register(self, as_: dict, **fields: Any) -> dict:
        values = {"phone": "13900000001", "displayName": "Wang Fang", "businessUnitId": "HOTEL"}
        return await self.gql(REGISTER, {"input": {**values, **fields}}, as_=as_)

    async def earn(self, as_: dict, member_id: Any, **fields: Any) -> dict:
        values = {
            "memberId": str(member_id),
            "businessUnitId": "HOTEL",
            "orderRef": self.ref("E"),
            "amount": "100.00",
            "idempotencyKey": self.ref("ke"),
        }
        return await self.gql(EARN, {"input": {**values, **fields}}, as_=as_)

    async def spend(self, as_: dict, member_id: Any, **fields: Any) -> dict:
        values = {
            "memberId": str(member_id),
            "businessUnitId": "HOTEL",
            "orderRef": self.ref("S"),
            "orderAmount": "1000.00",
            "points": 100,
            "idempotencyKey": self.ref("ks"),
        }
        return await self.gql(SPEND, {"input": {**values, **fields}}, as_=as_)

    async def reverse(self, as_: dict, transaction_id: Any, **fields: Any) -> dict:
        values = {
            "transactionId": str(transaction_id),
            "reason": "refund",
            "idempotencyKey": self.ref("kr"),
        }
        return await self.gql(REVERSE, {"input": {**values, **fields}}, as_=as_)

    async def state(self, member_id: Any) -> dict:
        """An operator's view of the member: balance and every transaction id, newest first."""
        body = await self.gql(MEMBER_STATE, {"id": str(member_id)}, as_=self.creds.operator())
        assert "errors" not in body, body
        member = body["data"]["member"]
        return {
            **member["points"],
            "transactions": [e["node"] for e in member["transactions"]["edges"]],
        }


@pytest.fixture
def api(gql, creds) -> Api:
    return Api(gql, creds)


def error_code(body: dict) -> str | None:
    """extensions.code of the first GraphQL error, or None when there is none."""
    errors = body.get("errors") or []
    return errors[0].get("extensions", {}).get("code") if errors else None


__all__ = ["EARN", "REGISTER", "REVERSE", "SPEND", "TZ", "Api", "error_code"]
