"""The audit trail: an operator's change is logged with its effect; only ops read it."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.models import OperatorAction
from tests.api.conftest import error_code
from tests.api.test_tiers_api import GRANT, in_months
from tests.helpers import new_member

ACTIONS = """query($kind: String, $id: String, $first: Int, $after: String) {
  operatorActions(targetKind: $kind, targetId: $id, first: $first, after: $after) {
    edges { node { actor action targetKind targetId reason detail createdAt } }
    pageInfo { hasNextPage endCursor } } }"""


def grant(member: int, tier: str, reason: str, key: str) -> dict:
    return {
        "input": {
            "memberId": str(member),
            "tierCode": tier,
            "until": in_months(2),
            "reason": reason,
            "idempotencyKey": key,
        }
    }


async def count_actions(uow_factory) -> int:
    async with uow_factory() as uow:
        return (await uow.session.execute(select(func.count()).select_from(OperatorAction))).one()[
            0
        ]


async def test_a_grant_is_in_the_trail_once_and_pages_newest_first(units, gql, creds, uow_factory):
    async with uow_factory() as uow:
        first, second = await new_member(uow, "HOTEL"), await new_member(uow, "MALL")
    ops = creds.operator()
    await gql(GRANT, grant(first, "SILVER", "launch goodwill", "g1"), as_=ops)
    await gql(GRANT, grant(first, "SILVER", "launch goodwill", "g1"), as_=ops)  # a replay
    await gql(GRANT, grant(second, "GOLD", "vip guest", "g2"), as_=ops)
    await gql(GRANT, grant(first, "GOLD", "complaint", "g3"), as_=ops)

    body = await gql(ACTIONS, {"kind": "member", "id": str(first)}, as_=ops)
    nodes = [e["node"] for e in body["data"]["operatorActions"]["edges"]]
    assert [(n["action"], n["reason"], n["detail"]["from"], n["detail"]["to"]) for n in nodes] == [
        ("tier.grant", "complaint", "SILVER", "GOLD"),
        ("tier.grant", "launch goodwill", "NORMAL", "SILVER"),
    ]
    assert {n["actor"] for n in nodes} == {"operator:ops-1"}

    page = await gql(ACTIONS, {"first": 2}, as_=ops)
    conn = page["data"]["operatorActions"]
    assert [e["node"]["reason"] for e in conn["edges"]] == ["complaint", "vip guest"]
    assert conn["pageInfo"]["hasNextPage"] is True
    rest = await gql(ACTIONS, {"first": 2, "after": conn["pageInfo"]["endCursor"]}, as_=ops)
    assert [e["node"]["reason"] for e in rest["data"]["operatorActions"]["edges"]] == [
        "launch goodwill"
    ]


async def test_a_refused_grant_leaves_no_trail(units, gql, creds, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
    body = await gql(GRANT, grant(member, "PLATINUM", "typo", "g9"), as_=creds.operator())
    assert body["data"]["grantTier"]["errors"][0]["code"] == "NOT_FOUND"
    assert await count_actions(uow_factory) == 0


@pytest.mark.parametrize("caller", ["anonymous", "member", "partner", "finance"])
async def test_only_ops_read_the_trail(units, gql, creds, uow_factory, caller):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
    headers = {
        "anonymous": {},
        "member": creds.member(member),
        "partner": await creds.partner("HOTEL"),
        "finance": creds.operator("finance"),
    }[caller]
    body = await gql(ACTIONS, {}, as_=headers)
    assert body["data"] is None
    assert error_code(body) == ("UNAUTHENTICATED" if caller == "anonymous" else "FORBIDDEN")


async def test_a_malformed_cursor_is_invalid_input(units, gql, creds):
    body = await gql(ACTIONS, {"after": "not-a-cursor"}, as_=creds.operator())
    assert error_code(body) == "INVALID_INPUT"
