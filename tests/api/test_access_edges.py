"""Access edges: partners learn nothing about members not presented to them."""

from __future__ import annotations

from tests.api.conftest import error_code
from tests.helpers import earn, new_member

MEMBERS = "query($q: String) { members(first: 50, search: $q) { edges { node { displayName } } } }"


async def test_partner_cannot_tell_unknown_from_unseen_member(units, api, creds, uow_factory):
    async with uow_factory() as uow:
        unseen = await new_member(uow, "HOTEL")
    mall = await creds.partner("MALL")
    for member_id in (unseen, 999_999, "not-a-number"):
        body = await api.earn(mall, member_id, businessUnitId="MALL")
        assert error_code(body) == "FORBIDDEN", body
        assert str(unseen) not in body["errors"][0]["message"]
    as_member = creds.member(unseen)
    preview = await api.gql(
        "query($i: EarnPointsInput!) { previewEarn(input: $i) { points } }",
        {"i": {"memberId": "999999", "businessUnitId": "MALL", "orderRef": "P", "amount": "9"}},
        as_=as_member,
    )
    assert error_code(preview) == "FORBIDDEN"


async def test_registering_needs_the_earn_scope(units, api, creds):
    read_only = await creds.partner("HOTEL", scopes="read")
    refused = await api.register(read_only, phone="13700000001")
    assert error_code(refused) == "FORBIDDEN"
    allowed = await api.register(await creds.partner("HOTEL", scopes="earn"), phone="13700000001")
    assert allowed["data"]["registerMember"]["errors"] == []


async def test_partner_reverses_only_for_members_presented_to_it(units, api, creds, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow, "MALL")  # never presented to the hotel
        stay = await earn(uow, member, "300", unit="HOTEL")  # recorded by ops at the hotel
    hotel = await creds.partner("HOTEL")
    body = await api.reverse(hotel, stay.id)
    assert error_code(body) == "FORBIDDEN"
    assert (await api.state(member))["available"] == 600


async def test_member_search_treats_wildcards_literally(units, api, creds, uow_factory):
    async with uow_factory() as uow:
        await new_member(uow, display_name="100% Chen")
        await new_member(uow, display_name="Zhou_Min")
        await new_member(uow, display_name="Li Lei")
    ops = creds.operator()

    async def names(q: str) -> list[str]:
        body = await api.gql(MEMBERS, {"q": q}, as_=ops)
        return [e["node"]["displayName"] for e in body["data"]["members"]["edges"]]

    assert await names("%") == ["100% Chen"]
    assert await names("_") == ["Zhou_Min"]
    assert await names("li") == ["Li Lei"]
