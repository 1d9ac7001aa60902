"""The dynamic member code: the member shows it, a till scans it, and the till's unit then knows
the member. Codes live in Redis under `<prefix>dyncode:<code>` for about a minute."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.api.conftest import error_code
from tests.helpers import earn, new_member

MY_CODE = "{ me { id dynamicCode { code expiresAt } } }"
BY_CODE = (
    "query($code: String!) { memberByCode(code: $code) { id displayName points { available } } }"
)


@pytest.fixture
async def member(units, uow_factory) -> int:
    """Registered at OFFICE: neither the HOTEL nor the MALL till has seen this member."""
    async with uow_factory() as uow:
        member_id = await new_member(uow, "OFFICE")
        await earn(uow, member_id, "100", unit="OFFICE")
    return member_id


async def show_code(gql, creds, member_id: int) -> dict:
    body = await gql(MY_CODE, as_=creds.member(member_id))
    assert "errors" not in body, body
    assert body["data"]["me"]["id"] == str(member_id)
    return body["data"]["me"]["dynamicCode"]


async def test_member_gets_a_short_lived_code(member, gql, creds, clock, redis_client, settings):
    shown = await show_code(gql, creds, member)
    assert len(shown["code"]) == 18 and shown["code"].isdigit()
    expires_at = datetime.fromisoformat(shown["expiresAt"])
    assert expires_at.utcoffset() is not None
    assert expires_at == clock.now + timedelta(seconds=settings.dynamic_code_ttl_seconds)
    assert settings.dynamic_code_ttl_seconds == 60
    key = f"{settings.redis_prefix}dyncode:{shown['code']}"
    assert await redis_client.get(key) == str(member)
    assert 0 < await redis_client.ttl(key) <= 60
    # Each request shows a fresh code, and the previous one still resolves until it expires.
    again = await show_code(gql, creds, member)
    assert again["code"] != shown["code"]
    assert await redis_client.get(key) == str(member)


async def test_hotel_till_resolves_the_code_and_can_then_earn(member, gql, creds, api):
    hotel = await creds.partner("HOTEL")
    before = await api.earn(hotel, member)
    assert error_code(before) == "FORBIDDEN", before
    body = await gql("query($id: ID!) { member(id: $id) { id } }", {"id": str(member)}, as_=hotel)
    assert error_code(body) == "FORBIDDEN"

    shown = await show_code(gql, creds, member)
    resolved = await gql(BY_CODE, {"code": shown["code"]}, as_=hotel)
    assert "errors" not in resolved, resolved
    assert resolved["data"]["memberByCode"] == {
        "id": str(member),
        "displayName": "Test Member",
        "points": {"available": 100},
    }
    after = await api.earn(hotel, member, amount="50.00")
    assert after["data"]["earnPoints"]["errors"] == []
    assert after["data"]["earnPoints"]["balance"]["available"] == 200
    body = await gql("query($id: ID!) { member(id: $id) { id } }", {"id": str(member)}, as_=hotel)
    assert body["data"]["member"]["id"] == str(member)


async def test_only_the_scanning_unit_gets_to_know_the_member(member, gql, creds, api):
    hotel = await creds.partner("HOTEL")
    mall = await creds.partner("MALL")
    shown = await show_code(gql, creds, member)
    assert "errors" not in await gql(BY_CODE, {"code": shown["code"]}, as_=hotel)
    # HOTEL's scan does not present the member to MALL.
    refused = await api.earn(mall, member, businessUnitId="MALL")
    assert error_code(refused) == "FORBIDDEN"
    # MALL's own scan does.
    resolved = await gql(BY_CODE, {"code": shown["code"]}, as_=mall)
    assert resolved["data"]["memberByCode"]["id"] == str(member)
    earned = await api.earn(mall, member, businessUnitId="MALL", amount="80.00")
    assert earned["data"]["earnPoints"]["errors"] == []
    assert earned["data"]["earnPoints"]["balance"]["pending"] == 80  # MALL holds 7 days


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        pytest.param("123456789012345678", "CODE_EXPIRED", id="unknown"),
        pytest.param("12345", "INVALID_INPUT", id="too-short"),
        pytest.param("1234567890123456789", "INVALID_INPUT", id="too-long"),
        pytest.param("12345678901234567x", "INVALID_INPUT", id="not-digits"),
        pytest.param("", "INVALID_INPUT", id="empty"),
        pytest.param("*", "INVALID_INPUT", id="wildcard"),
    ],
)
async def test_bad_codes(code, expected, member, gql, creds):
    hotel = await creds.partner("HOTEL")
    await show_code(gql, creds, member)  # a live code exists; these are not it
    body = await gql(BY_CODE, {"code": code}, as_=hotel)
    assert body["data"]["memberByCode"] is None
    assert error_code(body) == expected, body
    assert body["errors"][0]["extensions"]["field"] == "code"
    assert body["errors"][0]["message"] != "Internal error."


@pytest.mark.parametrize("how", ["deleted", "expired"])
async def test_an_expired_code_no_longer_resolves(
    how, member, gql, creds, api, redis_client, settings
):
    hotel = await creds.partner("HOTEL")
    shown = await show_code(gql, creds, member)
    key = f"{settings.redis_prefix}dyncode:{shown['code']}"
    if how == "deleted":
        assert await redis_client.delete(key) == 1
    else:
        assert await redis_client.expireat(key, 1)  # an expiry in the past: gone at once
        assert await redis_client.exists(key) == 0
    body = await gql(BY_CODE, {"code": shown["code"]}, as_=hotel)
    assert body["data"]["memberByCode"] is None
    assert error_code(body) == "CODE_EXPIRED", body
    # The failed scan did not present the member to HOTEL.
    assert error_code(await api.earn(hotel, member)) == "FORBIDDEN"


async def test_a_code_is_scoped_to_its_redis_prefix(member, gql, creds, redis_client, settings):
    """Two gateways sharing one Redis with different prefixes do not see each other's codes."""
    hotel = await creds.partner("HOTEL")
    await redis_client.set("elsewhere:dyncode:111111111111111111", str(member), ex=60)
    try:
        body = await gql(BY_CODE, {"code": "111111111111111111"}, as_=hotel)
    finally:
        await redis_client.delete("elsewhere:dyncode:111111111111111111")
    assert error_code(body) == "CODE_EXPIRED"


@pytest.mark.parametrize("caller", ["other-member", "hotel", "ops", "finance"])
async def test_nobody_else_gets_a_members_code(caller, member, units, gql, creds, uow_factory):
    async with uow_factory() as uow:
        other = await new_member(uow, "HOTEL")
    headers = {
        "other-member": creds.member(other),
        "ops": creds.operator("ops"),
        "finance": creds.operator("finance"),
    }.get(caller) or await creds.partner("HOTEL")
    if caller == "hotel":  # let the HOTEL till see the member, so only the code is refused
        shown = await show_code(gql, creds, member)
        assert "errors" not in await gql(BY_CODE, {"code": shown["code"]}, as_=headers)
    body = await gql(
        "query($id: ID!) { member(id: $id) { id dynamicCode { code } } }",
        {"id": str(member)},
        as_=headers,
    )
    assert error_code(body) == "FORBIDDEN", body
    assert body["data"]["member"] is None


async def test_members_cannot_resolve_codes(member, gql, creds, uow_factory):
    async with uow_factory() as uow:
        other = await new_member(uow, "HOTEL")
    shown = await show_code(gql, creds, member)
    for headers in (creds.member(other), creds.member(member), creds.operator("finance")):
        body = await gql(BY_CODE, {"code": shown["code"]}, as_=headers)
        assert error_code(body) == "FORBIDDEN", body
