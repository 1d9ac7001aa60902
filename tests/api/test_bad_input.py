"""Input the gateway cannot use is the caller's mistake, never INTERNAL (issue 18).

NUL characters and lone surrogates in any string, strings longer than their column, ids past
their column's range, non-ASCII digits read as ids or amounts: each answers INVALID_INPUT (or
"no such thing": null, NOT_FOUND), and nothing is recorded.
"""

from __future__ import annotations

import base64
import json

import pytest

from tests.api.conftest import EARN, REVERSE
from tests.api.test_points_errors import counts
from tests.helpers import earn, new_member

MEMBER = "query($id: ID!) { member(id: $id) { id } }"
BY_EXTERNAL_ID = """
query($e: String!, $u: ID) { memberByExternalId(externalId: $e, businessUnitId: $u) { id } }"""
MEMBERS = "query($after: String) { members(first: 5, after: $after) { edges { node { id } } } }"


@pytest.fixture
async def member(units, uow_factory) -> int:
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL", external_id="H-1")
        await earn(uow, member, "100", unit="HOTEL")
    return member


def codes(body: dict) -> list[str | None]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or ()]


def earn_input(member: int, **fields) -> dict:
    values = {
        "memberId": str(member),
        "businessUnitId": "HOTEL",
        "orderRef": "R-1",
        "amount": "10.00",
        "idempotencyKey": "k-1",
    }
    return {"input": values | fields}


@pytest.mark.parametrize(
    "fields",
    [
        {"orderRef": "R\x00-1"},
        {"category": "spa\x00"},
        {"idempotencyKey": "k\x00"},
        {"orderRef": "R-\ud800"},  # a lone surrogate: JSON allows it, UTF-8 has none
        {"businessUnitId": "HOTEL\x00"},
    ],
    ids=["nul-order-ref", "nul-category", "nul-key", "lone-surrogate", "nul-unit"],
)
async def test_unstorable_characters_in_variables_are_invalid_input(
    member, client, creds, uow_factory, fields
):
    before = await counts(uow_factory)
    body = json.dumps({"query": EARN, "variables": earn_input(member, **fields)})  # ASCII-escaped
    headers = {"content-type": "application/json", **(await creds.partner("HOTEL"))}
    response = await client.post("/graphql", content=body.encode(), headers=headers)
    assert response.status_code == 200, response.text
    assert codes(response.json()) == ["INVALID_INPUT"], response.json()
    assert response.json()["data"] is None
    assert await counts(uow_factory) == before


async def test_unstorable_characters_in_literals_are_invalid_input(member, gql, creds):
    fields = 'flagId: "1", decision: CLEAR, note: "a\\u0000b"'  # GraphQL's escape for NUL
    query = f"mutation {{ reviewAbuseFlag(input: {{{fields}}}) {{ errors {{ code }} }} }}"
    body = await gql(query, as_=creds.operator())
    assert codes(body) == ["INVALID_INPUT"], body


async def test_a_string_longer_than_its_column_is_invalid_input(member, gql, creds, uow_factory):
    before = await counts(uow_factory)
    hotel = await creds.partner("HOTEL")
    body = await gql(EARN, earn_input(member, category="x" * 33), as_=hotel)
    payload = (body.get("data") or {}).get("earnPoints")
    refused = codes(body) or [e["code"] for e in payload["errors"]]
    assert refused == ["INVALID_INPUT"], body
    assert await counts(uow_factory) == before


@pytest.mark.parametrize(
    "member_id", ["2147483648", str(2**63), "99999999999999999999999", "١", "０１", "²", "-1"]
)
async def test_ids_out_of_range_or_not_ascii_name_no_member(member, gql, creds, member_id):
    body = await gql(MEMBER, {"id": member_id}, as_=creds.operator())
    assert body["data"] == {"member": None} and "errors" not in body, body


@pytest.mark.parametrize("unit", ["³", "١", "99999999999", str(2**63)])
async def test_units_named_by_odd_digits_are_not_found(member, gql, creds, unit):
    body = await gql(BY_EXTERNAL_ID, {"e": "H-1", "u": unit}, as_=creds.operator())
    assert codes(body) == ["NOT_FOUND"], body


async def test_reversing_a_transaction_past_bigint_is_not_found(member, gql, creds):
    variables = {"input": {"transactionId": str(2**63), "reason": "x", "idempotencyKey": "r1"}}
    body = await gql(REVERSE, variables, as_=creds.operator())
    payload = body["data"]["reverseTransaction"]
    assert [e["code"] for e in payload["errors"]] == ["NOT_FOUND"], body


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"merchantId": "99999999999"}, "NOT_FOUND"),
        ({"merchantId": "١"}, "NOT_FOUND"),
        ({"memberId": "2147483648"}, "FORBIDDEN"),  # a partner sees only members it knows
        ({"memberId": "٣"}, "FORBIDDEN"),
        ({"amount": "١٠٠"}, "BAD_USER_INPUT"),  # not a Decimal: a variable error
        ({"amount": "１０"}, "BAD_USER_INPUT"),
    ],
)
async def test_earn_refuses_odd_ids_and_amounts(member, gql, creds, uow_factory, fields, code):
    before = await counts(uow_factory)
    hotel = await creds.partner("HOTEL")
    body = await gql(EARN, earn_input(member, **fields), as_=hotel)
    payload = (body.get("data") or {}).get("earnPoints")
    refused = codes(body) or [e["code"] for e in payload["errors"]]
    assert refused == [code], body
    assert "INTERNAL" not in json.dumps(body)
    assert await counts(uow_factory) == before


@pytest.mark.parametrize(
    "cursor",
    [
        base64.urlsafe_b64encode(b"member:99999999999999999999999").decode(),
        base64.urlsafe_b64encode("member:١".encode()).decode(),
        base64.urlsafe_b64encode(b"member:0001").decode(),
        "not base64 \x7f",
    ],
)
async def test_cursors_holding_odd_numbers_are_invalid_input(member, gql, creds, cursor):
    body = await gql(MEMBERS, {"after": cursor}, as_=creds.operator())
    assert codes(body) == ["INVALID_INPUT"], body


# --- The request body itself: a 4xx before GraphQL, never a 500 or a stalled worker ---------

DEEP = b'{"query": "{ __typename }", "v": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b'{"query": "{ businessUnits { id } }", "x": "\xe9"}', 400, "not UTF-8"),
        (
            b'{"query": "{ __typename }", "v": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            400,
            "deep",
        ),
        (b'{"query": "{ __typename }", "operationName": 5}', 400, "operationName"),
        (b'{"query": ["{ __typename }"]}', 400, "query"),
        (b"[]", 400, "Batching"),
    ],
    ids=["latin-1", "nested-100000-deep", "operation-name-int", "query-list", "batch"],
)
async def test_malformed_bodies_are_400(units, client, body, status, says):
    response = await client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert says in response.text and "Traceback" not in response.text


async def test_a_body_over_the_limit_is_413_before_it_is_read(units, client, services):
    limit = services.settings.max_request_bytes
    body = b'{"query": "#' + b"a" * limit + b'\\n{ __typename }"}'
    response = await client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"

    async def chunks():  # no Content-Length: counted as it streams
        yield b'{"query": "#'
        for _ in range(limit // 65536 + 2):
            yield b"a" * 65536
        yield b'\\n{ __typename }"}'

    response = await client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert (
        response.headers["x-request-id"] == response.json()["errors"][0]["extensions"]["requestId"]
    )


@pytest.mark.parametrize(
    "query",
    [
        "#" + "a" * 900_000 + "\n{ __typename }",  # under the body limit, one long comment
        "#a\n" * 2001 + "{ __typename }",  # many short comments
        "{ __typename }" + " " * 200_000,  # whitespace
    ],
    ids=["long-comment", "many-comments", "whitespace"],
)
async def test_comments_and_whitespace_count_toward_the_token_limit(units, gql, query):
    body = await gql(query)
    assert codes(body) == ["QUERY_TOO_LARGE"], body
    assert body["data"] is None


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ ", "GRAPHQL_PARSE_FAILED"),
        ("{ nope }", "GRAPHQL_VALIDATION_FAILED"),
        ("query($id: ID!) { member(id: $id) { id } }", "BAD_USER_INPUT"),  # $id missing
    ],
)
async def test_parse_validation_and_variable_errors_carry_a_code(units, gql, query, code):
    body = await gql(query)
    assert codes(body) == [code], body
