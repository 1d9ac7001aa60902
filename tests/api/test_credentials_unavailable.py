"""A database that cannot be reached while credentials are checked is a JSON answer with the
request id and a retryable code (it was a raw HTTP 500 that also closed the connection)."""

from __future__ import annotations

import httpx
import pytest

from app.bootstrap import Services
from app.domain.access.tokens import mint_member_token
from app.main import create_app
from app.platform.db import make_engine, make_sessionmaker


@pytest.fixture
async def unreachable(settings, redis_client, clock):
    """The gateway over a database address where nothing listens."""
    engine = make_engine("postgresql://postgres@127.0.0.1:1/nothing", pool_size=1)
    services = Services(
        settings=settings,
        sessions=make_sessionmaker(engine),
        redis=redis_client,
        clock=lambda: clock.now,
    )
    app = create_app(services=services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as http:
        yield http
    await engine.dispose()


@pytest.mark.parametrize("kind", ["partner-key", "member-token"])
async def test_credentials_that_cannot_be_checked_are_unavailable(unreachable, settings, kind):
    headers = (
        {"X-Api-Key": "bmg_000000000000_secretsecretsecret"}
        if kind == "partner-key"
        else {"Authorization": f"Bearer {mint_member_token(settings, 7)}"}
    )
    response = await unreachable.post(
        "/graphql", json={"query": "{ businessUnits { id } }"}, headers=headers
    )
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    [error] = response.json()["errors"]
    assert error["extensions"] == {
        "code": "UNAVAILABLE",
        "requestId": response.headers["x-request-id"],
    }
