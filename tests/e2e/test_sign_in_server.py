"""A real `serve` process with no WeChat app configured: the development stand-in signs a
member in end to end, as GraphiQL would show it (first sign-in, the API with the access
token, a refresh)."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.servers import GatewayProcess

SIGN_IN = """
mutation($input: SignInWithWeChatInput!) {
  signInWithWeChat(input: $input) {
    accessToken refreshToken created member { id } errors { code field }
  }
}"""


@pytest.fixture
def server(units, database_url, tmp_path):
    gateway = GatewayProcess(
        database_url, tmp_path / "gateway.log", WECHAT_APPID=None, WECHAT_SECRET=None
    )
    gateway.wait_ready()
    yield gateway.base
    gateway.stop()


async def test_the_development_stand_in_signs_a_member_in(server):
    async with httpx.AsyncClient(base_url=server, timeout=10) as http:

        async def post(query: str, variables: dict, headers: dict | None = None) -> dict:
            response = await http.post(
                "/graphql", json={"query": query, "variables": variables}, headers=headers or {}
            )
            return response.json()

        asked = await post(SIGN_IN, {"input": {"code": "e2e"}})
        assert asked["data"]["signInWithWeChat"]["errors"] == [
            {"code": "PHONE_REQUIRED", "field": "phoneCode"}
        ]
        first = await post(SIGN_IN, {"input": {"code": "e2e", "phoneCode": "13911110000"}})
        signed = first["data"]["signInWithWeChat"]
        assert signed["created"] is True and signed["errors"] == []
        me = await post("{ me { id } }", {}, {"Authorization": f"Bearer {signed['accessToken']}"})
        assert me["data"]["me"]["id"] == signed["member"]["id"]
        refreshed = await post(
            "mutation($t: String!) { refreshSession(input: {refreshToken: $t}) "
            "{ accessToken errors { code } } }",
            {"t": signed["refreshToken"]},
        )
        assert refreshed["data"]["refreshSession"]["errors"] == []
