"""The GraphQL-over-HTTP specification: the two response media types, and which operation of a
document runs (issue 18).

- `Accept: application/graphql-response+json` gets that Content-Type, and a request error
  (nothing ran) is a 4xx without `data`; an error from a field stays 200 with `data`.
- `application/json` (the default) keeps answering every request error with 200.
- Several operations without `operationName` is OPERATION_NAME_REQUIRED; a name matching none
  is UNKNOWN_OPERATION; nothing runs in either case.
"""

from __future__ import annotations

import pytest
from graphql import GraphQLError

from app.graphql.core.media_types import request_error_status, wants_graphql_response
from tests.helpers import new_member

GRAPHQL_RESPONSE = "application/graphql-response+json"
TWO_OPERATIONS = """
mutation Register($input: RegisterMemberInput!) { registerMember(input: $input) { member { id } } }
query Units { businessUnits { code } }
"""  # the first used to run when no name was given


async def post(client, body: dict, accept: str | None, headers: dict | None = None):
    sent = {**(headers or {}), **({"Accept": accept} if accept else {})}
    return await client.post("/graphql", json=body, headers=sent)


def codes(body: dict) -> list[str | None]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or ()]


@pytest.mark.parametrize(
    ("accept", "preferred"),
    [
        (None, False),
        ("*/*", False),
        ("application/json", False),
        (GRAPHQL_RESPONSE, True),
        (f"{GRAPHQL_RESPONSE}, application/json", True),
        (f"application/json, {GRAPHQL_RESPONSE}", True),  # same quality: the spec's own type
        (f"application/json, {GRAPHQL_RESPONSE};q=0.9", False),
        (f"{GRAPHQL_RESPONSE};q=0.5, */*;q=0.1", True),
        (f"{GRAPHQL_RESPONSE};q=0", False),
        (f"{GRAPHQL_RESPONSE};q=oops", False),
    ],
)
def test_the_accept_header_chooses_the_media_type(accept, preferred):
    assert wants_graphql_response(accept) is preferred


async def test_graphql_response_json_is_answered_in_kind(units, client, creds):
    response = await post(client, {"query": "{ __typename }"}, GRAPHQL_RESPONSE)
    assert response.status_code == 200
    assert response.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
    assert response.json()["data"] == {"__typename": "Query"}
    plain = await post(client, {"query": "{ __typename }"}, "application/json")
    assert plain.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"query": "{"}, "GRAPHQL_PARSE_FAILED"),
        ({"query": "{ noSuchField }"}, "GRAPHQL_VALIDATION_FAILED"),
        (
            {"query": "query($id: ID!) { member(id: $id) { id } }", "variables": {"id": [1]}},
            "BAD_USER_INPUT",
        ),
        ({"query": "query A { __typename } query B { __typename }"}, "OPERATION_NAME_REQUIRED"),
        ({"query": "query A { __typename }", "operationName": "B"}, "UNKNOWN_OPERATION"),
        ({"query": "#" + "x" * 200_000 + "\n{ __typename }"}, "QUERY_TOO_LARGE"),
        ({"query": "{ businessUnits { " + "code " * 2500 + "} }"}, "QUERY_TOO_LARGE"),
        (
            {"query": "{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }"},
            "QUERY_TOO_COMPLEX",
        ),
    ],
    ids=[
        "syntax",
        "validation",
        "variables",
        "ambiguous",
        "unknown-name",
        "too-large",
        "too-many-tokens",
        "too-many-aliases",
    ],
)
async def test_request_errors_are_4xx_without_data_under_graphql_response_json(
    units, client, creds, body, code
):
    response = await post(client, body, GRAPHQL_RESPONSE, creds.operator())
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    answer = response.json()
    assert "data" not in answer, answer
    assert codes(answer) == [code]

    legacy = await post(client, body, "application/json", creds.operator())
    assert legacy.status_code == 200, legacy.text
    assert legacy.json()["data"] is None
    assert codes(legacy.json()) == [code]


async def test_a_field_error_stays_200_with_data_under_graphql_response_json(units, client):
    response = await post(client, {"query": "{ me { id } }"}, GRAPHQL_RESPONSE)  # anonymous
    assert response.status_code == 200, response.text
    answer = response.json()
    assert "data" in answer
    assert codes(answer) == ["UNAUTHENTICATED"]
    assert answer["errors"][0]["path"] == ["me"]


async def test_several_operations_without_a_name_run_none_of_them(
    units, client, creds, uow_factory
):
    input_ = {"displayName": "Ann", "phone": "+8613800000001", "businessUnitId": "HOTEL"}
    body = {"query": TWO_OPERATIONS, "variables": {"input": input_}}
    response = await post(client, body, None, creds.operator())
    assert response.status_code == 200
    answer = response.json()
    assert answer["data"] is None
    assert codes(answer) == ["OPERATION_NAME_REQUIRED"]
    assert "operationName" in answer["errors"][0]["message"]

    named = await post(client, {**body, "operationName": "Units"}, None, creds.operator())
    assert named.json()["data"]["businessUnits"]
    assert "errors" not in named.json()
    async with uow_factory() as uow:  # the mutation never ran: the first member is still next
        assert await new_member(uow, "HOTEL") == 1


@pytest.mark.parametrize(
    ("codes_", "status"),
    [
        (["GRAPHQL_PARSE_FAILED"], 400),
        (["THROTTLED"], 429),
        (["TIMEOUT"], 504),
        (["UNAVAILABLE"], 503),
        ([None], 400),
    ],
)
def test_a_request_error_takes_the_status_its_code_calls_for(codes_, status):
    errors = [GraphQLError("no", extensions={"code": code} if code else None) for code in codes_]
    assert request_error_status(None, errors) == status


def test_a_result_that_ran_is_no_request_error():
    field_error = GraphQLError("no", path=["me"], extensions={"code": "UNAUTHENTICATED"})
    assert request_error_status(None, [field_error]) is None
    assert request_error_status({"me": None}, [field_error]) is None
    assert request_error_status({"__typename": "Query"}, None) is None
