"""The command line and a real server process: credentials, jobs, serve + GraphQL over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import httpx
import jwt
import pytest

from app.domain.access.tokens import AUDIENCE
from app.settings import DEV_JWT_SECRET
from tests.conftest import NOW
from tests.e2e.servers import GatewayProcess
from tests.helpers import assert_clean, balance, earn, new_member


def run_cli(database_url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("JWT_SECRET", None)
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
    )


async def test_tokens_print_the_credential_alone(database_url):
    member = run_cli(database_url, "token", "member", "42").stdout
    assert member.count("\n") == 1
    claims = jwt.decode(member.strip(), DEV_JWT_SECRET, algorithms=["HS256"], audience=AUDIENCE)
    assert claims["sub"] == "42" and claims["kind"] == "member"
    operator = run_cli(database_url, "token", "operator", "--role", "finance").stdout.strip()
    claims = jwt.decode(operator, DEV_JWT_SECRET, algorithms=["HS256"], audience=AUDIENCE)
    assert claims["roles"] == ["finance"]
    bad = run_cli(database_url, "token", "operator", "--role", "root", check=False)
    assert bad.returncode != 0


async def test_partner_key_create(units, database_url, uow_factory):
    out = run_cli(
        database_url, "partner-key", "create", "--business-unit", "HOTEL", "--scopes", "earn,read"
    ).stdout
    key = out.strip()
    assert out.count("\n") == 1 and key.startswith("bmg_")
    from app.domain.access.partner_keys import authenticate_partner_key

    async with uow_factory() as uow:
        partner = await authenticate_partner_key(uow, key)
    assert partner.unit_id == units["HOTEL"] and partner.scopes == {"earn", "read"}
    refused = run_cli(
        database_url,
        "partner-key",
        "create",
        "--business-unit",
        "NOPE",
        "--scopes",
        "earn",
        check=False,
    )
    assert refused.returncode != 0 and "no business unit" in refused.stderr


async def test_partner_key_list_and_revoke(units, database_url, uow_factory):
    key = run_cli(
        database_url, "partner-key", "create", "--business-unit", "HOTEL", "--scopes", "earn"
    ).stdout.strip()
    prefix = key.split("_")[1]
    listed = run_cli(database_url, "partner-key", "list").stdout.splitlines()
    assert listed[0].split("\t") == ["id", "prefix", "unit", "scopes", "name", "created", "revoked"]
    [row] = [line.split("\t") for line in listed[1:] if prefix in line]
    assert row[1:4] == [prefix, "HOTEL", "earn"] and row[6] == "-"
    assert key.split("_", 2)[2] not in "\n".join(listed)  # the secret is never shown

    out = run_cli(database_url, "partner-key", "revoke", prefix, "--reason", "leaked").stdout
    assert "revoked" in out and "PARTNER_KEY_CACHE_SECONDS" in out
    again = run_cli(database_url, "partner-key", "revoke", row[0]).stdout  # by id: no change
    assert "revoked already" in again
    [row] = [
        line.split("\t")
        for line in run_cli(database_url, "partner-key", "list").stdout.splitlines()
        if prefix in line
    ]
    assert row[6] != "-"
    from app.domain.access.partner_keys import authenticate_partner_key

    async with uow_factory() as uow:
        assert await authenticate_partner_key(uow, key) is None
    unknown = run_cli(database_url, "partner-key", "revoke", "nope", check=False)
    assert unknown.returncode != 0 and "no partner key" in unknown.stderr


async def test_jobs_run_twice_and_take_now(units, database_url, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow)
        await earn(uow, member, "100", unit="MALL")  # 100 pending for 7 days
        await earn(uow, member, "50", unit="HOTEL")  # 100 available, expires in 12 months
    release_at = (NOW + timedelta(days=8)).isoformat()
    first = run_cli(database_url, "release-pending", "--now", release_at).stdout
    again = run_cli(database_url, "release-pending", "--now", release_at).stdout
    assert first.strip() == "release-pending: 1 members, 100 points"
    assert again.strip() == "release-pending: 0 members, 0 points"
    expire_at = (NOW + timedelta(days=400)).isoformat()
    assert "1 members, 200 points" in run_cli(database_url, "expire", "--now", expire_at).stdout
    assert "0 members" in run_cli(database_url, "expire", "--now", expire_at).stdout
    async with uow_factory() as uow:
        row = await balance(uow, member)
    assert (row.available, row.pending) == (0, 0)
    assert run_cli(database_url, "verify-ledger").returncode == 0
    await assert_clean(uow_factory)
    naive = run_cli(database_url, "expire", "--now", "2026-01-01T00:00:00", check=False)
    assert naive.returncode != 0


def test_serve_logs_json_by_default():
    from app.cli import parser

    default = parser().parse_args(["serve"])
    assert (default.log_format, default.log_level) == ("json", None)
    chosen = parser().parse_args(["serve", "--log-format", "text", "--log-level", "warning"])
    assert (chosen.log_format, chosen.log_level) == ("text", "WARNING")


@pytest.fixture
def server(units, database_url, tmp_path):
    gateway = GatewayProcess(database_url, tmp_path / "gateway.log")
    gateway.wait_ready()
    yield gateway.base
    gateway.stop()


async def test_serve_answers_graphql_and_probes(server, database_url):
    async with httpx.AsyncClient(base_url=server, timeout=10) as http:

        async def post(query: str, headers: dict | None = None) -> dict:
            response = await http.post("/graphql", json={"query": query}, headers=headers or {})
            return response.json()

        body = await post("{ businessUnits { code kind spendRules { pointValueCny } } }")
        codes = {unit["code"] for unit in body["data"]["businessUnits"]}
        assert codes == {"MALL", "HOTEL", "OFFICE", "PROPERTY", "CONVENIENCE", "TOURISM"}
        anonymous = await post("{ me { id } }")
        assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        token = run_cli(database_url, "token", "operator", "--role", "ops").stdout.strip()
        listed = await post(
            "{ members(first: 5) { edges { node { id } } } }",
            {"Authorization": f"Bearer {token}"},
        )
        assert listed["data"]["members"]["edges"] == []
        ready = await http.get("/readyz")
        assert ready.json() == {"ready": True, "database": "ok", "redis": "ok"}
        page = await http.get("/graphql", headers={"Accept": "text/html"})
        assert "graphiql" in page.text.lower()
