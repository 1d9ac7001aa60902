"""Member queries: me, member, memberByExternalId, the ops list, and transaction pages.

Lists are keyset connections: `first` defaults to 20 and is capped at 100, cursors are opaque,
pages neither repeat nor skip a row (even when rows are added between pages), and a malformed
cursor is an INVALID_INPUT error rather than an internal one.
"""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime

import pytest

from tests.api.conftest import error_code, refusal
from tests.helpers import earn, new_member, spend

PROFILE = """
{ me {
    id displayName phoneMasked referralCode registeredAt birthday
    registeredVia { code kind }
    points { available pending debt }
} }"""

TX_PAGE = """
query($id: ID!, $first: Int, $after: String) {
  member(id: $id) {
    transactions(first: $first, after: $after) {
      edges { cursor node { id kind points createdAt businessUnit { code } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""

MEMBERS_PAGE = """
query($first: Int, $after: String, $search: String) {
  members(first: $first, after: $after, search: $search) {
    edges { cursor node { id displayName } }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def member_with_transactions(uow_factory, count: int) -> tuple[int, list[str]]:
    """A member with `count` earns alternating between units; their ids, newest first."""
    ids = []
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        for i in range(count):
            tx = await earn(uow, member, f"{i + 1}.00", unit=("HOTEL", "OFFICE", "MALL")[i % 3])
            ids.append(str(tx.id))
    return member, ids[::-1]


async def read_all_pages(gql, headers, member: int, first: int) -> tuple[list[str], list[dict]]:
    ids, pages, after = [], [], None
    while True:
        body = await gql(TX_PAGE, {"id": str(member), "first": first, "after": after}, as_=headers)
        assert "errors" not in body, body
        page = body["data"]["member"]["transactions"]
        pages.append(page)
        ids += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return ids, pages
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        after = page["pageInfo"]["endCursor"]
        assert len(pages) < 50, "pagination does not end"


async def test_me_shows_the_members_profile(units, gql, creds, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL", birthday=date(1990, 5, 17))
        await earn(uow, member, "120.50", unit="HOTEL")  # 241 available
        await earn(uow, member, "30.00", unit="MALL")  # 30 pending for 7 days
    body = await gql(PROFILE, as_=creds.member(member))
    me = body["data"]["me"]
    assert me["id"] == str(member)
    assert me["displayName"] == "Test Member"
    assert len(me["phoneMasked"]) == 11 and me["phoneMasked"][3:7] == "****"
    assert len(me["referralCode"]) == 8
    assert me["birthday"] == "1990-05-17"
    assert datetime.fromisoformat(me["registeredAt"]).utcoffset() is not None
    assert me["registeredVia"] == {"code": "HOTEL", "kind": "HOTEL"}
    assert me["points"] == {"available": 241, "pending": 30, "debt": 0}


async def test_member_token_for_a_member_that_does_not_exist(units, client, creds):
    """A well-signed token naming no member is refused (it was served as `me: null`)."""
    error = await refusal(client, creds.member(424242), PROFILE)
    assert error["extensions"]["reason"] == "UNKNOWN_MEMBER"


@pytest.mark.parametrize("member_id", ["99999", "abc", "-1", "1.0"])
async def test_ops_asking_for_an_unknown_member_get_null(member_id, units, gql, creds):
    body = await gql("query($id: ID!) { member(id: $id) { id } }", {"id": member_id},
                     as_=creds.operator())  # fmt: skip
    assert (body["data"], "errors" in body) == ({"member": None}, False)


async def test_member_by_external_id(units, gql, creds, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL", external_id="PMS-778")
    query = """query($ext: String!, $unit: ID) {
      memberByExternalId(externalId: $ext, businessUnitId: $unit) { id } }"""
    hotel = await creds.partner("HOTEL")
    ops = creds.operator()
    found = await gql(query, {"ext": " PMS-778 "}, as_=hotel)
    assert found["data"]["memberByExternalId"] == {"id": str(member)}
    # A partner always looks in its own unit, whatever unit it names.
    found = await gql(query, {"ext": "PMS-778", "unit": "MALL"}, as_=hotel)
    assert found["data"]["memberByExternalId"] == {"id": str(member)}
    found = await gql(query, {"ext": "PMS-778", "unit": "HOTEL"}, as_=ops)
    assert found["data"]["memberByExternalId"] == {"id": str(member)}

    missing = await gql(query, {"ext": "PMS-779"}, as_=hotel)
    assert (error_code(missing), missing["errors"][0]["extensions"]["field"]) == (
        "NOT_FOUND",
        "externalId",
    )
    elsewhere = await gql(query, {"ext": "PMS-778", "unit": "MALL"}, as_=ops)
    assert error_code(elsewhere) == "NOT_FOUND"
    unnamed = await gql(query, {"ext": "PMS-778"}, as_=ops)
    assert (error_code(unnamed), unnamed["errors"][0]["extensions"]["field"]) == (
        "INVALID_INPUT",
        "businessUnitId",
    )
    unknown_unit = await gql(query, {"ext": "PMS-778", "unit": "CASINO"}, as_=ops)
    assert error_code(unknown_unit) == "NOT_FOUND"


async def test_register_over_the_api_links_the_external_id(units, api, creds):
    hotel = await creds.partner("HOTEL")
    body = await api.register(
        hotel, phone="+86 137 0000 1111", displayName=" Chen Jie ", externalId="PMS-1"
    )
    payload = body["data"]["registerMember"]
    assert payload["errors"] == []
    assert payload["member"]["displayName"] == "Chen Jie"
    assert payload["member"]["phoneMasked"] == "137****1111"
    found = await api.gql(
        '{ memberByExternalId(externalId: "PMS-1") { id registeredVia { code } } }', as_=hotel
    )
    assert found["data"]["memberByExternalId"] == {
        "id": payload["member"]["id"],
        "registeredVia": {"code": "HOTEL"},
    }


# --- Member.transactions ------------------------------------------------------------------


async def test_transaction_pages_cover_every_row_once(units, gql, creds, uow_factory):
    member, ids = await member_with_transactions(uow_factory, 25)
    seen, pages = await read_all_pages(gql, creds.operator(), member, first=10)
    assert [len(p["edges"]) for p in pages] == [10, 10, 5]
    assert [p["pageInfo"]["hasNextPage"] for p in pages] == [True, True, False]
    assert seen == ids  # newest first, no duplicates, no gaps
    assert pages[-1]["pageInfo"]["endCursor"] == pages[-1]["edges"][-1]["cursor"]
    units_seen = {e["node"]["businessUnit"]["code"] for p in pages for e in p["edges"]}
    assert units_seen == {"HOTEL", "OFFICE", "MALL"}


@pytest.mark.parametrize("first", [1, 7, 24, 25, 26, 100])
async def test_any_page_size_reads_the_same_rows(first, units, gql, creds, uow_factory):
    member, ids = await member_with_transactions(uow_factory, 25)
    seen, pages = await read_all_pages(gql, creds.member(member), member, first=first)
    assert seen == ids
    assert len(pages) == max(1, -(-25 // first))


async def test_first_defaults_to_20_and_is_capped_at_100(units, gql, creds, uow_factory):
    member, ids = await member_with_transactions(uow_factory, 105)
    ops = creds.operator()
    default = await gql(TX_PAGE, {"id": str(member)}, as_=ops)
    assert len(default["data"]["member"]["transactions"]["edges"]) == 20

    body = await gql(TX_PAGE, {"id": str(member), "first": 1000}, as_=ops)
    page = body["data"]["member"]["transactions"]
    assert len(page["edges"]) == 100
    assert page["pageInfo"]["hasNextPage"] is True
    rest = await gql(
        TX_PAGE, {"id": str(member), "first": 1000, "after": page["pageInfo"]["endCursor"]}, as_=ops
    )
    rest_page = rest["data"]["member"]["transactions"]
    assert rest_page["pageInfo"] == {
        "hasNextPage": False,
        "endCursor": rest_page["edges"][-1]["cursor"],
    }
    assert [e["node"]["id"] for e in page["edges"] + rest_page["edges"]] == ids


async def test_empty_history(units, gql, creds, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
    body = await gql(TX_PAGE, {"id": str(member), "first": 5}, as_=creds.member(member))
    assert body["data"]["member"]["transactions"] == {
        "edges": [],
        "pageInfo": {"hasNextPage": False, "endCursor": None},
    }


async def test_rows_added_between_pages_neither_repeat_nor_shift_the_next_page(
    units, gql, creds, uow_factory
):
    member, ids = await member_with_transactions(uow_factory, 12)
    ops = creds.operator()
    first = await gql(TX_PAGE, {"id": str(member), "first": 5}, as_=ops)
    page = first["data"]["member"]["transactions"]
    async with uow_factory() as uow:  # new activity while the till scrolls
        await earn(uow, member, "500.00")
        await spend(uow, member, 100, unit="HOTEL")
    second = await gql(
        TX_PAGE, {"id": str(member), "first": 5, "after": page["pageInfo"]["endCursor"]}, as_=ops
    )
    seen = [e["node"]["id"] for e in page["edges"]]
    seen += [e["node"]["id"] for e in second["data"]["member"]["transactions"]["edges"]]
    assert seen == ids[:10]


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("first", "after", "field"),
    [
        pytest.param(5, "garbage", "after", id="not-base64"),
        pytest.param(5, "", "after", id="empty"),
        pytest.param(5, _cursor("tx:abc"), "after", id="non-numeric-id"),
        pytest.param(5, _cursor("tx:-3"), "after", id="negative-id"),
        pytest.param(5, _cursor("member:3"), "after", id="cursor-of-another-list"),
        pytest.param(5, base64.urlsafe_b64encode(b"\xff\xfe").decode(), "after", id="binary"),
        pytest.param(-1, None, "first", id="negative-first"),
    ],
)
async def test_bad_page_arguments_are_invalid_input(
    first, after, field, units, gql, creds, uow_factory
):
    member, _ = await member_with_transactions(uow_factory, 3)
    body = await gql(TX_PAGE, {"id": str(member), "first": first, "after": after},
                     as_=creds.operator())  # fmt: skip
    assert error_code(body) == "INVALID_INPUT", body
    assert body["errors"][0]["extensions"]["field"] == field
    assert body["errors"][0]["message"] != "Internal error."


# --- Points: balance and what expires when ---------------------------------------------------


async def test_expiring_points_by_local_date(units, gql, creds, uow_factory, clock):
    """Lots expire 12 months after earning; `expiring` lists those due within the window."""
    async with uow_factory(datetime(2025, 6, 20, 17, 0, tzinfo=UTC)) as uow:  # 21 Jun, 01:00 CST
        member = await new_member(uow, "HOTEL")
        await earn(uow, member, "10.00", unit="HOTEL")  # 20 pts, expire 2026-06-21 local
    async with uow_factory(datetime(2025, 6, 21, 3, 0, tzinfo=UTC)) as uow:
        await earn(uow, member, "5.00", unit="HOTEL")  # 10 pts, the same local day
    async with uow_factory(datetime(2025, 7, 30, 3, 0, tzinfo=UTC)) as uow:
        await earn(uow, member, "7.00", unit="HOTEL")  # 14 pts, expire 2026-07-30
    async with uow_factory() as uow:
        await earn(uow, member, "50.00", unit="HOTEL")  # 100 pts, a year away
        await spend(uow, member, 100, unit="HOTEL")  # earliest expiring first: 20 + 10 + 14 + 56

    query = """query($id: ID!) { member(id: $id) { points {
        available expiring30: expiring(withinDays: 30) { points expiresOn expiresAt }
        expiring60: expiring(withinDays: 60) { points expiresOn }
        expiringNone: expiring(withinDays: 0) { points } } } }"""
    body = await gql(query, {"id": str(member)}, as_=creds.member(member))
    points = body["data"]["member"]["points"]
    assert points["available"] == 44
    assert points["expiring30"] == []  # the first three lots were spent
    assert points["expiring60"] == []
    assert points["expiringNone"] == []

    async with uow_factory(datetime(2025, 6, 20, 17, 0, tzinfo=UTC)) as uow:
        other = await new_member(uow, "HOTEL")
        await earn(uow, other, "10.00", unit="HOTEL")
    async with uow_factory(datetime(2025, 6, 21, 3, 0, tzinfo=UTC)) as uow:
        await earn(uow, other, "5.00", unit="HOTEL")
    async with uow_factory(datetime(2025, 7, 30, 3, 0, tzinfo=UTC)) as uow:
        await earn(uow, other, "7.00", unit="HOTEL")
    body = await gql(query, {"id": str(other)}, as_=creds.member(other))
    points = body["data"]["member"]["points"]
    assert points["expiring30"] == [
        {"points": 30, "expiresOn": "2026-06-21", "expiresAt": "2026-06-20T17:00:00+00:00"}
    ]
    assert points["expiring60"] == [
        {"points": 30, "expiresOn": "2026-06-21"},
        {"points": 14, "expiresOn": "2026-07-30"},
    ]
    clock.advance(days=10)  # 25 Jun: the June lot has expired (the job has not run yet)
    body = await gql(query, {"id": str(other)}, as_=creds.member(other))
    assert body["data"]["member"]["points"]["expiring60"] == [
        {"points": 14, "expiresOn": "2026-07-30"}
    ]


# --- The ops list of members -----------------------------------------------------------------


async def test_members_list_pages_and_searches(units, gql, creds, uow_factory):
    async with uow_factory() as uow:
        ids = [await new_member(uow, "MALL") for _ in range(105)]
    ops = creds.operator()
    seen, after = [], None
    sizes = []
    while True:
        body = await gql(MEMBERS_PAGE, {"first": 1000, "after": after}, as_=ops)
        page = body["data"]["members"]
        sizes.append(len(page["edges"]))
        seen += [int(e["node"]["id"]) for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sizes == [100, 5]
    assert seen == sorted(ids)

    default = await gql(MEMBERS_PAGE, {}, as_=ops)
    assert len(default["data"]["members"]["edges"]) == 20
    bad = await gql(MEMBERS_PAGE, {"after": _cursor("tx:1")}, as_=ops)
    assert error_code(bad) == "INVALID_INPUT"
    bad = await gql(MEMBERS_PAGE, {"first": -5}, as_=ops)
    assert error_code(bad) == "INVALID_INPUT"


async def test_members_search_by_name_or_exact_phone(units, api, creds):
    ops = creds.operator()
    for phone, name in (("13511110001", "Ouyang Xiu"), ("13511110002", "Su Shi")):
        body = await api.register(ops, phone=phone, displayName=name, businessUnitId="MALL")
        assert body["data"]["registerMember"]["errors"] == []

    async def names(search: str) -> list[str]:
        body = await api.gql(MEMBERS_PAGE, {"search": search}, as_=ops)
        return [e["node"]["displayName"] for e in body["data"]["members"]["edges"]]

    assert await names("ouyang") == ["Ouyang Xiu"]
    assert await names("13511110002") == ["Su Shi"]
    assert await names("1351111") == []  # phones match only in full
    assert await names("nobody") == []


async def test_a_referral_code_is_the_members_and_operators_not_a_partners(
    units, gql, creds, uow_factory
):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")  # presented to the hotel: registered there
    query = "query($id: ID!) { member(id: $id) { id referralCode } }"
    hotel = await creds.partner("HOTEL", scopes="read")
    seen = {}
    for who, headers in (
        ("member", creds.member(member)),
        ("ops", creds.operator()),
        ("partner", hotel),
    ):
        body = await gql(query, {"id": str(member)}, as_=headers)
        assert body["data"]["member"]["id"] == str(member), body
        seen[who] = body["data"]["member"]["referralCode"]
    assert seen["member"] == seen["ops"] and len(seen["member"]) == 8
    assert seen["partner"] is None
