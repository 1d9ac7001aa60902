"""Abusive requests are refused cleanly, before they cost the gateway anything: deep nesting,
floods of aliases or tokens, huge pages, expensive shapes, batches, introspection in
production, and error messages that would teach an attacker the schema."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest
from strawberry.extensions import AddValidationRules

from app.graphql.schema import build_schema
from app.main import create_app
from app.settings import Settings
from tests.api.conftest import GraphQLClient, error_code
from tests.api.test_query_counts import count_statements
from tests.helpers import new_member


def refused(body: dict) -> list[str]:
    """The error messages of a request that ran nothing."""
    assert body.get("data") is None, body
    assert body["errors"], body
    return [e["message"].lower() for e in body["errors"]]


def limited(body: dict) -> dict:
    """The extensions of a refused request's first error, a shape limit's: a code of its own,
    not a syntax or validation error's (a document of unknown fields may have those after)."""
    refused(body)
    return body["errors"][0]["extensions"]


# --- Shape limits: depth, aliases, tokens ----------------------------------------------------


async def test_deep_nesting_is_refused_by_depth(units, gql, creds, engine):
    deep = "{ " + "a { " * 50 + "b" + " }" * 50 + " }"
    with count_statements(engine) as statements:
        body = await gql(deep, as_=creds.operator())
    assert any("exceeds maximum operation depth of 10" in m for m in refused(body))
    assert limited(body) == {"code": "QUERY_TOO_COMPLEX", "reason": "DEPTH", "limit": 10}
    assert statements == []


@pytest.mark.parametrize("levels", [600, 20000])
async def test_very_deep_nesting_stops_the_parser(units, gql, levels):
    deeper = "{ " + "a { " * levels + "b" + " }" * levels + " }"  # no recursion blow-up
    body = await gql(deeper)
    messages = refused(body)
    assert any("nested too deeply" in m or "token" in m for m in messages), messages
    assert limited(body)["code"] in ("QUERY_TOO_COMPLEX", "QUERY_TOO_LARGE")


async def test_a_thousand_aliases_are_refused(units, gql, services):
    flood = "{ " + " ".join(f"u{i}: businessUnits {{ code }}" for i in range(1000)) + " }"
    body = await gql(flood)
    assert any("token" in m for m in refused(body))  # 6,000 tokens: parser stops
    assert limited(body) == {"code": "QUERY_TOO_LARGE", "reason": "TOKENS", "limit": 2000}
    services.settings = Settings(
        redis_prefix=services.settings.redis_prefix, max_query_tokens=10**5
    )
    app = create_app(services=services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://g") as h:
        # With room for the tokens, the alias limit refuses it.
        body = await GraphQLClient(h)(flood)
        assert any("alias" in m for m in refused(body))
        assert limited(body) == {"code": "QUERY_TOO_COMPLEX", "reason": "ALIASES", "limit": 30}


async def test_many_tokens_are_refused(units, gql):
    padded = "{ businessUnits { " + "code " * 2500 + "} }"
    body = await gql(padded)
    assert any("token" in m for m in refused(body))
    assert limited(body) == {"code": "QUERY_TOO_LARGE", "reason": "TOKENS", "limit": 2000}


# --- Pages and cost --------------------------------------------------------------------------


async def test_a_huge_first_is_clamped_to_100_and_priced_as_100(units, gql, creds, uow_factory):
    async with uow_factory() as uow:
        for _ in range(101):
            await new_member(uow, "HOTEL")
    query = "{ members(first: 1000000) { edges { node { id } } pageInfo { hasNextPage } } }"
    body = await gql(query, as_=creds.operator())
    assert "errors" not in body
    page = body["data"]["members"]
    assert (len(page["edges"]), page["pageInfo"]["hasNextPage"]) == (100, True)
    assert body["extensions"]["cost"]["requested"] == 10 + 1 + 100 * 1 + 1
    negative = await gql("{ members(first: -1) { edges { cursor } } }", as_=creds.operator())
    assert error_code(negative) == "INVALID_INPUT"


NESTED = """query Nested($outer: Int!, $inner: Int!) {
  members(first: $outer) { edges { node { id
    transactions(first: $inner) { edges { node { id businessUnit { code } } } } } } } }"""


async def test_a_query_too_costly_is_refused_before_it_runs(units, gql, creds, engine):
    ops = creds.operator()
    cheap = await gql(NESTED, {"outer": 5, "inner": 5}, as_=ops)
    assert "errors" not in cheap
    assert cheap["extensions"]["cost"]["requested"] == 10 + 1 + 5 * (1 + 5 + 1 + 5 * 2)
    with count_statements(engine) as statements:
        body = await gql(NESTED, {"outer": 100, "inner": 100}, as_=ops)
    assert statements == []
    refused(body)
    assert body["errors"][0]["extensions"] == {
        "code": "QUERY_TOO_COSTLY",
        "cost": 10 + 1 + 100 * (1 + 5 + 1 + 100 * 2),
        "limit": 5000,
    }
    assert body["extensions"]["cost"] == {"requested": 20711, "limit": 5000}
    assert "20711" in body["errors"][0]["message"]


async def test_fragments_do_not_hide_cost(units, gql, creds):
    hidden = """query { members(first: 100) { ...Page } }
      fragment Page on MemberConnection { edges { node { ... on Member { ...History } } } }
      fragment History on Member {
        transactions(first: 100) { edges { node { businessUnit { code } } } } }"""
    assert error_code(await gql(hidden, as_=creds.operator())) == "QUERY_TOO_COSTLY"


async def test_the_cost_is_priced_per_request_while_validation_stays_cached():
    schema = build_schema()
    rules = next(e for e in schema.extensions if getattr(e, "func", None) is AddValidationRules)
    depth_rule = rules.args[0][0]
    validations = 0
    original = depth_rule.__init__

    def counting(self, *args, **kwargs):
        nonlocal validations
        validations += 1
        original(self, *args, **kwargs)

    depth_rule.__init__ = counting
    try:
        query = "query($n: Int) { me { transactions(first: $n) { edges { node { id } } } } }"
        context = SimpleNamespace(settings=Settings(query_budget_capacity=0), principal=None)
        costs = []
        for n in (5, 50, 5):
            result = await schema.execute(query, {"n": n}, context_value=context)
            costs.append(result.extensions["cost"]["requested"])
    finally:
        depth_rule.__init__ = original
    assert costs == [1 + 5 + 1 + 5, 1 + 5 + 1 + 50, 1 + 5 + 1 + 5]
    assert validations == 1


# --- Transport: batches and bodies -----------------------------------------------------------


async def test_a_batch_of_operations_is_refused_with_400(units, client):
    batch = [{"query": "{ businessUnits { code } }"}] * 50
    response = await client.post("/graphql", json=batch)
    assert response.status_code == 400
    assert "batching is not supported" in response.text.lower()


@pytest.mark.parametrize("body", [5, "query", True])
async def test_a_body_that_is_not_a_json_object_is_refused_with_400(units, client, body):
    response = await client.post("/graphql", json=body)
    assert (response.status_code, response.text) == (400, "Expected a JSON object.")


# --- What errors and introspection reveal ----------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "{ businesUnits { code } }",
        "{ businessUnits { cod } }",
        "{ members(frist: 1) { edges { cursor } } }",
        '{ memberByCode(cde: "x") { id } }',
    ],
)
async def test_errors_suggest_no_field_or_argument_names(units, gql, query):
    for message in refused(await gql(query)):
        assert "did you mean" not in message


async def test_production_settings_close_introspection_and_graphiql(services, units, monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("JWT_SECRET", "x" * 40)
    for name in ("INTROSPECTION", "GRAPHIQL"):
        monkeypatch.delenv(name, raising=False)
    production = Settings.from_env()
    assert (production.introspection, production.graphiql) == (False, False)
    services.settings = production
    app = create_app(services=services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://g") as h:
        gql = GraphQLClient(h)
        refused(await gql("{ __schema { types { name } } }"))
        refused(await gql('{ __type(name: "Member") { fields { name } } }'))
        assert (await gql("{ businessUnits { code } }"))["data"]["businessUnits"]
        page = await h.get("/graphql", headers={"accept": "text/html"})
        assert "graphiql" not in page.text.lower()
