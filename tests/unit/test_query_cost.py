"""The price of a query: field costs times page sizes, fragments expanded, variables resolved."""

from __future__ import annotations

import pytest
from graphql import parse

from app.graphql.core.cost import FIELD_COSTS, MUTATION_COST, QueryCostError, query_cost
from app.graphql.schema import schema
from app.settings import Settings

LIMIT = Settings().max_query_cost


def cost(query: str, variables: dict | None = None, operation: str | None = None) -> int:
    return query_cost(
        schema._schema, parse(query), operation_name=operation, variables=variables or {}
    )


HOME = """{ me { id displayName points { available pending expiring(withinDays: 30)
  { expiresOn points } } transactions(first: 10) { edges { node { id kind points orderRef
  createdAt businessUnit { code } } } } } }"""


def test_the_mini_program_home_query_is_far_below_the_limit():
    # me 1 + points 1 + expiring 5 + transactions 5 + edges 1 + 10 x (node 1 + businessUnit 1)
    assert cost(HOME) == 33
    assert cost(HOME) * 100 < LIMIT


def test_scalar_leaves_are_free_and_objects_cost_one():
    assert cost("{ businessUnits { code name } }") == 1
    assert cost("{ businessUnits { code spendRules { step } } }") == 1 + 10 * 1
    assert cost("{ __typename }") == 0


def test_first_multiplies_each_edge_and_defaults_to_the_page_size():
    one = "{ members(first: 1) { edges { node { id registeredVia { code } } } } }"
    members = FIELD_COSTS["Query.members"]
    assert cost(one) == members + 1 + 1 * (1 + 1)  # edges once, node + registeredVia per edge
    ten = one.replace("first: 1", "first: 10")
    assert cost(ten) == members + 1 + 10 * 2
    default = one.replace("(first: 1)", "")
    assert cost(default) == members + 1 + 20 * 2  # DEFAULT_FIRST


def test_page_info_is_counted_once_per_page():
    query = "{ members(first: 50) { edges { cursor } pageInfo { hasNextPage } } }"
    assert cost(query) == 10 + 1 + 50 * 0 + 1


def test_first_is_capped_at_the_page_maximum_like_the_resolvers():
    huge = "{ members(first: 1000000) { edges { node { id registeredVia { code } } } } }"
    assert cost(huge) == cost(huge.replace("1000000", "100")) == 10 + 1 + 100 * 2
    assert cost(huge.replace("1000000", "-5")) == 10 + 1  # refused by the resolver; no page


def test_nested_pages_multiply():
    query = """query($outer: Int, $inner: Int) { members(first: $outer) { edges { node {
        transactions(first: $inner) { edges { node { businessUnit { code } } } } } } } }"""
    inner = FIELD_COSTS["Member.transactions"] + 1 + 5 * 2
    assert cost(query, {"outer": 2, "inner": 5}) == 10 + 1 + 2 * (1 + inner)
    assert cost(query, {"outer": 100, "inner": 100}) == 10 + 1 + 100 * (1 + 5 + 1 + 100 * 2)
    assert cost(query, {"outer": 100, "inner": 100}) > LIMIT


def test_variables_are_resolved_with_their_defaults():
    query = "query($n: Int = 50) { members(first: $n) { edges { node { points { available } } } } }"
    # The default applies when the variable is not sent (the caller coerces variables first).
    assert cost(query, {"n": 50}) == 10 + 1 + 50 * 2
    assert cost(query, {"n": 2}) == 10 + 1 + 2 * 2
    assert cost(query, {"n": None}) == 10 + 1 + 20 * 2


def test_fragments_on_a_connection_keep_its_page():
    query = """{ members(first: 30) { ...Page } }
      fragment Page on MemberConnection { ... { edges { node { points { available } } } } }"""
    assert cost(query) == 10 + 1 + 30 * 2


def test_fragments_and_inline_fragments_count_like_the_fields_they_hold():
    plain = "{ me { points { available } tier { tier { code } } } }"
    named = """{ me { ...Summary } }
      fragment Summary on Member { points { available } ...TierPart }
      fragment TierPart on Member { tier { tier { code } } }"""
    inline = "{ me { ... on Member { points { available } } ... { tier { tier { code } } } } }"
    assert cost(plain) == cost(named) == cost(inline) == 1 + 1 + FIELD_COSTS["Member.tier"] + 1


def test_a_fragment_spread_twice_counts_twice():
    query = """{ a: me { ...P } b: me { ...P } } fragment P on Member { points { available } }"""
    assert cost(query) == 2 * (1 + 1)


def test_skip_and_include_are_obeyed():
    query = """query($list: Boolean!) { me { id
        transactions(first: 100) @include(if: $list) { edges { node { id } } } } }"""
    assert cost(query, {"list": False}) == 1
    assert cost(query, {"list": True}) == 1 + 5 + 1 + 100 * 1
    assert cost("{ me { points @skip(if: true) { available } } }") == 1


def test_mutations_cost_more_than_reads():
    earn = """mutation { earnPoints(input: {memberId: "1", businessUnitId: "HOTEL",
        orderRef: "A", amount: "1"}) { points errors { code } } }"""
    assert cost(earn) == FIELD_COSTS["Mutation.earnPoints"] + 1
    register = """mutation { registerMember(input: {phone: "1", displayName: "x",
        businessUnitId: "HOTEL"}) { member { id } errors { code } } }"""
    assert cost(register) == MUTATION_COST + 1 + 1


def test_introspection_is_free():
    assert cost("{ __schema { types { name fields { name type { name } } } } }") == 0


def test_the_named_operation_is_priced():
    document = "query A { me { id } } query B { members(first: 100) { edges { cursor } } }"
    assert cost(document, operation="A") == 1
    assert cost(document, operation="B") == 10 + 1 + 100 * 0
    with pytest.raises(QueryCostError):
        cost(document)  # two operations and no name: execution refuses it


def test_the_member_360_view_is_priced_per_unit_and_per_remote_call():
    overview = """{ me { overview { formats { usage { spend }
        activity(first: 5) { edges { node { id } } } } } } }"""
    # me 1 + overview 5 + 6 formats x (1 + usage 10 + activity 10 + 5 x (edges 1 + node 1 ...))
    per_format = 1 + FIELD_COSTS["FormatOverview.usage"] + FIELD_COSTS["FormatOverview.activity"]
    per_format += 5 * 1  # edges x 5 (node is inside edges: 1 each)
    assert cost(overview) >= 1 + FIELD_COSTS["Member.overview"] + 6 * per_format
    listing = "{ me { activity(first: 100) { edges { node { id } } } } }"
    assert cost(listing) > cost("{ me { activity(first: 1) { edges { node { id } } } } }")


def test_a_campaign_simulation_costs_like_a_report():
    query = """query($i: SimulateCampaignInput!) { simulateCampaign(input: $i) { points } }"""
    assert cost(query, {"i": {}}) >= FIELD_COSTS["Query.simulateCampaign"]
    assert cost(HOME) * 10 < cost(query, {"i": {}})
