"""The contract: the checked-in SDL is the code's schema, the names clients call exist with their
types, unexpected failures are masked, and the protective limits are on."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from graphql import GraphQLNamedType, get_named_type
from sqlalchemy import func, select

from app.domain.till import earning
from app.graphql.core.loaders import Loaders
from app.graphql.schema import schema
from app.main import create_app
from app.models import IdempotencyKey, PointsTransaction
from app.settings import Settings
from tests.api.conftest import GraphQLClient, error_code
from tests.helpers import earn, new_member

ROOT = Path(__file__).resolve().parents[2]
SECRET = "password=hunter2 at db.internal:5432"


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip().splitlines()]


def test_checked_in_sdl_equals_the_code():
    checked_in = (ROOT / "schema.graphql").read_text(encoding="utf-8")
    assert _lines(checked_in) == _lines(schema.as_str()), (
        "schema.graphql is stale: run `python -m app export-schema > schema.graphql`"
    )


# --- The names the mini-program, partner apps and acceptance checks call -------------------

GRAPHQL = schema._schema


def _type(name: str) -> GraphQLNamedType:
    found = GRAPHQL.get_type(name)
    assert found is not None, f"type {name} is missing"
    return found


def _field_type(type_name: str, field: str) -> str:
    fields = _type(type_name).fields
    assert field in fields, f"{type_name}.{field} is missing"
    return str(fields[field].type)


def _args(type_name: str, field: str) -> dict[str, str]:
    return {name: str(arg.type) for name, arg in _type(type_name).fields[field].args.items()}


QUERY_FIELDS = {
    "me": ("Member", {}),
    "member": ("Member", {"id": "ID!"}),
    "memberByCode": ("Member", {"code": "String!"}),
    "businessUnits": ("[BusinessUnit!]!", {}),
    "previewEarn": ("EarnPreview!", {"input": "EarnPointsInput!"}),
}
MUTATION_FIELDS = {
    "registerMember": ("RegisterMemberPayload!", {"input": "RegisterMemberInput!"}),
    "earnPoints": ("EarnPointsPayload!", {"input": "EarnPointsInput!"}),
    "spendPoints": ("SpendPointsPayload!", {"input": "SpendPointsInput!"}),
    "reverseTransaction": ("ReverseTransactionPayload!", {"input": "ReverseTransactionInput!"}),
}


@pytest.mark.parametrize(
    ("root", "name", "type_", "args"),
    [("Query", n, t, a) for n, (t, a) in QUERY_FIELDS.items()]
    + [("Mutation", n, t, a) for n, (t, a) in MUTATION_FIELDS.items()],
)
def test_contract_root_fields(root, name, type_, args):
    assert _field_type(root, name) == type_
    assert {k: v for k, v in _args(root, name).items() if k in args} == args
    extra_required = [k for k, v in _args(root, name).items() if k not in args and v.endswith("!")]
    assert extra_required == []


@pytest.mark.parametrize(
    ("type_name", "fields"),
    [
        (
            "Member",
            {
                "id": "ID!",
                "displayName": "String!",
                "points": "PointsBalance!",
                "transactions": "PointsTransactionConnection!",
                "dynamicCode": "DynamicCode!",
            },
        ),
        ("PointsBalance", {"available": "Int!", "pending": "Int!"}),
        ("ExpiringPoints", {"points": "Int!"}),
        ("DynamicCode", {"code": "String!", "expiresAt": "DateTime!"}),
        ("BusinessUnit", {"id": "ID!", "code": "String!", "name": "String!"}),
        ("EarnPreview", {"points": "Int!", "breakdown": "[EarnBreakdownLine!]!"}),
        ("PointsTransactionConnection", {"edges": "[PointsTransactionEdge!]!"}),
        ("PageInfo", {"hasNextPage": "Boolean!", "endCursor": "String"}),
        ("UserError", {"code": "UserErrorCode!", "message": "String!", "field": "String"}),
    ],
)
def test_contract_object_fields(type_name, fields):
    assert {name: _field_type(type_name, name) for name in fields} == fields


def test_contract_arguments_of_nested_fields():
    assert _args("Member", "transactions") == {"first": "Int", "after": "String"}
    assert _args("PointsBalance", "expiring") == {"withinDays": "Int!"}
    kinds = set(_type("BusinessUnitKind").values)
    assert {"MALL", "HOTEL", "OFFICE", "PROPERTY", "CONVENIENCE", "TOURISM"} <= kinds


@pytest.mark.parametrize(
    ("input_name", "required", "optional"),
    [
        (
            "EarnPointsInput",
            {
                "memberId": "ID!",
                "businessUnitId": "ID!",
                "orderRef": "String!",
                "amount": "Decimal!",
            },
            {"merchantId", "category", "idempotencyKey"},
        ),
        (
            "SpendPointsInput",
            {
                "memberId": "ID!",
                "businessUnitId": "ID!",
                "orderRef": "String!",
                "orderAmount": "Decimal!",
                "points": "Int!",
                "idempotencyKey": "String!",  # required: the schema says so to codegen
            },
            {"merchantId"},
        ),
        (
            "ReverseTransactionInput",
            {"transactionId": "ID!", "reason": "String!", "idempotencyKey": "String!"},
            {"amount"},
        ),
        (
            "RegisterMemberInput",
            {"phone": "String!", "displayName": "String!", "businessUnitId": "ID!"},
            {"birthday", "referralCode", "externalId"},
        ),
    ],
)
def test_contract_inputs(input_name, required, optional):
    fields = {name: str(f.type) for name, f in _type(input_name).fields.items()}
    assert {name: fields.get(name) for name in required} == required
    for name in optional:
        assert name in fields and not fields[name].endswith("!"), (input_name, name)
    if input_name in ("EarnPointsInput", "RegisterMemberInput"):
        # earnPoints refuses a missing key (INVALID_INPUT), but previewEarn shares the input;
        # registering without a key is allowed (a phone registers once anyway)
        assert fields.get("idempotencyKey") == "String"


@pytest.mark.parametrize(
    "payload",
    [
        "RegisterMemberPayload",
        "EarnPointsPayload",
        "SpendPointsPayload",
        "ReverseTransactionPayload",
    ],
)
def test_every_payload_carries_typed_errors(payload):
    assert _field_type(payload, "errors") == "[UserError!]!"
    user_error = get_named_type(_type(payload).fields["errors"].type)
    assert set(user_error.fields) >= {"code", "message", "field"}


def test_error_codes_include_the_contracts():
    codes = set(_type("UserErrorCode").values)
    assert {
        "INSUFFICIENT_POINTS",
        "OUT_OF_STOCK",
        "LIMIT_REACHED",
        "VOUCHER_USED",
        "VOUCHER_EXPIRED",
        "IDEMPOTENCY_CONFLICT",
        "NOT_FOUND",
        "INVALID_INPUT",
    } <= codes


async def test_scalars_serialise_as_the_contract_says(units, api, creds, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        await earn(uow, member, "1000", unit="HOTEL")
    hotel = await creds.partner("HOTEL")
    spent = await api.spend(hotel, member, points=1000, orderAmount="100")
    body = spent["data"]["spendPoints"]
    assert (body["cnyDeducted"], body["cashDue"]) == ("10.00", "90.00")  # Decimal: a string
    assert isinstance(body["pointsSpent"], int)
    listed = await api.gql(
        "query($id: ID!) { member(id: $id) { transactions(first: 1) { edges { node {"
        " createdAt orderAmount } } } } }",
        {"id": str(member)},
        as_=hotel,
    )
    node = listed["data"]["member"]["transactions"]["edges"][0]["node"]
    assert node["orderAmount"] == "100.00"
    assert node["createdAt"].endswith("+00:00")  # ISO-8601 with an offset


# --- Unexpected exceptions are masked; deliberate errors are not ---------------------------


async def raw(gql: GraphQLClient, query: str, variables: dict, headers: dict) -> httpx.Response:
    response = await gql.http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response


def assert_masked(response: httpx.Response) -> None:
    body = response.json()
    assert [e["message"] for e in body["errors"]] == ["Internal error."]
    for leak in ("hunter2", "db.internal", "RuntimeError", "Traceback"):
        assert leak not in response.text


@pytest.fixture
async def member_and_till(units, uow_factory, creds) -> tuple[int, dict]:
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
    return member, await creds.partner("HOTEL")


def explode(*args, **kwargs):
    raise RuntimeError(SECRET)


async def test_query_failure_is_masked(member_and_till, gql, monkeypatch):
    member, hotel = member_and_till
    monkeypatch.setattr(earning, "quote_earn", explode)
    response = await raw(
        gql,
        "query($input: EarnPointsInput!) { previewEarn(input: $input) { points } }",
        {
            "input": {
                "memberId": str(member),
                "businessUnitId": "HOTEL",
                "orderRef": "P",
                "amount": "1",
            }
        },
        hotel,
    )
    assert_masked(response)
    assert response.json()["data"] is None


async def test_loader_failure_is_masked_and_only_fails_its_field(
    member_and_till, gql, creds, monkeypatch
):
    member, _ = member_and_till

    async def broken_expiring(self, keys):
        raise RuntimeError(SECRET)

    # (the balance comes with the member; the expiring points are a batch of their own)
    monkeypatch.setattr(Loaders, "_expiring", broken_expiring)
    response = await raw(
        gql,
        "{ me { id displayName points { available expiring(withinDays: 30) { points } } } }",
        {},
        creds.member(member),
    )
    assert_masked(response)
    assert response.json()["errors"][0]["path"] == ["me", "points", "expiring"]


async def test_mutation_failure_is_masked_and_records_nothing(
    member_and_till, gql, api, monkeypatch, uow_factory
):
    member, hotel = member_and_till
    monkeypatch.setattr(earning, "earn_points", explode)
    request = {"orderRef": "BOOM-1", "amount": "10.00", "idempotencyKey": "boom"}
    document = (
        "mutation($input: EarnPointsInput!) { earnPoints(input: $input) { errors { code } } }"
    )
    variables = {"input": {"memberId": str(member), "businessUnitId": "HOTEL", **request}}
    assert_masked(await raw(gql, document, variables, hotel))
    async with uow_factory() as uow:
        for model in (IdempotencyKey, PointsTransaction):
            assert await uow.session.scalar(select(func.count()).select_from(model)) == 0
    monkeypatch.undo()
    retried = (await api.earn(hotel, member, **request))["data"]["earnPoints"]
    assert (retried["errors"], retried["replayed"], retried["points"]) == ([], False, 20)


async def test_deliberate_errors_keep_their_message_and_code(member_and_till, gql, creds):
    member, _ = member_and_till
    body = await gql("{ members(first: 1) { edges { cursor } } }", as_=creds.member(member))
    assert error_code(body) == "FORBIDDEN"
    assert body["errors"][0]["message"] == "Only operators may do this."


# --- Limits ------------------------------------------------------------------------------


async def test_query_depth_is_limited(units, gql, creds):
    ops = creds.operator()
    deepest = """{ members { edges { node { transactions { edges { node {
        businessUnit { spendRules { step } } } } } } } } }"""  # depth 9: the schema's deepest
    assert "errors" not in await gql(deepest, as_=ops)
    too_deep = "{ " + "a { " * 11 + "b" + " }" * 11 + " }"
    body = await gql(too_deep, as_=ops)
    assert body.get("data") is None
    assert any("depth" in e["message"].lower() for e in body["errors"]), body


async def test_aliases_are_limited(units, gql):
    ok = "{ " + " ".join(f"u{i}: businessUnits {{ code }}" for i in range(5)) + " }"
    assert "errors" not in await gql(ok)
    many = "{ " + " ".join(f"u{i}: businessUnits {{ code }}" for i in range(31)) + " }"
    body = await gql(many)
    assert body.get("data") is None
    assert "alias" in body["errors"][0]["message"].lower()


async def test_field_suggestions_are_off(units, gql):
    body = await gql("{ businessUnit { code } }")
    assert "Did you mean" not in body["errors"][0]["message"]


async def test_introspection_can_be_turned_off(services, units):
    closed = Settings(redis_prefix=services.settings.redis_prefix, introspection=False)
    services.settings = closed
    app = create_app(services=services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://g"
    ) as http:
        gql = GraphQLClient(http)
        body = await gql("{ __schema { queryType { name } } }")
        assert body.get("data") is None and body["errors"]
        assert (await gql("{ businessUnits { code } }"))["data"]["businessUnits"]
