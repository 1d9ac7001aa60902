"""Partners see only their own format's transactions (SPEC: "a partner only members presented
to it ... and only its format's actions"): a hotel key listing a member's transactions sees the
hotel's, not the mall's, the office's or the expiry job's; the mall's key sees its merchants'
(they book under the mall). The member and operators see every unit's."""

from __future__ import annotations

from app.domain.members.identity import link_member
from tests.helpers import earn, new_member, spend

TX_PAGE = """
query($id: ID!, $first: Int, $after: String) {
  member(id: $id) {
    transactions(first: $first, after: $after) {
      edges { cursor node { id businessUnit { code } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""
ME_TX = "{ me { transactions(first: 100) { edges { node { id businessUnit { code } } } } } }"


async def _units_seen(gql, headers, member: int, first: int = 100) -> list[tuple[str, str]]:
    """(transaction id, unit code) of every page, newest first."""
    seen, after = [], None
    while True:
        body = await gql(TX_PAGE, {"id": str(member), "first": first, "after": after}, as_=headers)
        assert "errors" not in body, body
        page = body["data"]["member"]["transactions"]
        seen += [(e["node"]["id"], e["node"]["businessUnit"]["code"]) for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]


async def _member_at_every_format(uow_factory) -> tuple[int, dict[str, list[str]]]:
    """A member known to the hotel and the mall, with actions at four units (a mall merchant's
    among them); each unit's transaction ids, newest first."""
    ids: dict[str, list[str]] = {}
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL", external_id="PMS-1")
        for unit, extra in [
            ("HOTEL", {}),
            ("MALL", {}),
            ("MALL", {"merchant": "M003"}),  # a tenant merchant books under the mall
            ("OFFICE", {}),
            ("HOTEL", {}),
            ("PROPERTY", {}),
        ]:
            tx = await earn(uow, member, "200.00", unit=unit, **extra)
            ids.setdefault(unit, []).insert(0, str(tx.id))
        tx = await spend(uow, member, 100, unit="OFFICE")
        ids["OFFICE"].insert(0, str(tx.id))
    return member, ids


async def test_a_partner_lists_only_its_own_units_transactions(units, gql, creds, uow_factory):
    member, ids = await _member_at_every_format(uow_factory)
    hotel = await creds.partner("HOTEL")
    seen = await _units_seen(gql, hotel, member)
    assert [tx for tx, _ in seen] == ids["HOTEL"]
    assert {code for _, code in seen} == {"HOTEL"}


async def test_the_malls_key_sees_its_merchants_transactions(units, gql, creds, uow_factory):
    member, ids = await _member_at_every_format(uow_factory)
    async with uow_factory() as uow:  # presented to the mall (a scan at its till)
        await link_member(uow, member_id=member, unit_id=units["MALL"], via="SCAN")
    mall = await creds.partner("MALL")
    seen = await _units_seen(gql, mall, member)
    assert [tx for tx, _ in seen] == ids["MALL"] and len(ids["MALL"]) == 2


async def test_a_partners_pages_hold_only_its_units_rows(units, gql, creds, uow_factory):
    """Filtering happens before the page is cut: full pages of the unit's own rows, no page
    padded with or shortened by other units' rows, and no row repeated or skipped."""
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        hotel_ids = []
        for i in range(9):
            tx = await earn(uow, member, f"{i + 1}.00", unit=("HOTEL", "MALL", "OFFICE")[i % 3])
            if i % 3 == 0:
                hotel_ids.insert(0, str(tx.id))
    seen = await _units_seen(gql, await creds.partner("HOTEL"), member, first=2)
    assert [tx for tx, _ in seen] == hotel_ids


async def test_the_member_and_operators_see_every_units_transactions(
    units, gql, creds, uow_factory
):
    member, ids = await _member_at_every_format(uow_factory)
    everything = sorted(tx for unit_ids in ids.values() for tx in unit_ids)
    by_ops = await _units_seen(gql, creds.operator(), member)
    assert sorted(tx for tx, _ in by_ops) == everything
    mine = await gql(ME_TX, as_=creds.member(member))
    edges = mine["data"]["me"]["transactions"]["edges"]
    assert sorted(e["node"]["id"] for e in edges) == everything
    assert {e["node"]["businessUnit"]["code"] for e in edges} == {
        "HOTEL",
        "MALL",
        "OFFICE",
        "PROPERTY",
    }
