"""Demo format data for the database-backed sources, drawn from the seeded ledger.

Each earning order of the demo history is what a format's own system would also have
recorded: a hotel earning is a stay (checked out when the points were earned), a mall
earning a merchant receipt (and, for every other one, a car park session around it), a
property earning a bill, a convenience earning a till order. One INSERT ... SELECT per table,
so this takes well under a second for the demo's few thousand orders, and the figures the
sources report agree with the ledger. Rerunning adds nothing (unique unit references).
"""

from __future__ import annotations

from sqlalchemy import text

from app.platform.uow import UnitOfWork

_EARNINGS = """
FROM points_transactions t JOIN business_units u ON u.id = t.business_unit_id
WHERE u.kind = :kind AND t.kind = 'EARN' AND t.order_ref IS NOT NULL
  AND t.order_amount IS NOT NULL
"""

STATEMENTS = {
    "HOTEL": """
INSERT INTO hotel_stays
  (business_unit_id, member_id, external_ref, check_in, check_out, nights, room_type, amount)
SELECT t.business_unit_id, t.member_id, t.order_ref,
       t.created_at - make_interval(days => 1 + (t.id % 3)::int), t.created_at,
       1 + (t.id % 3)::int, (ARRAY['STANDARD', 'DELUXE', 'SUITE'])[1 + (t.id % 3)::int],
       t.order_amount
""",
    "MALL": """
INSERT INTO mall_receipts
  (business_unit_id, member_id, external_ref, merchant_code, category, issued_at, amount)
SELECT t.business_unit_id, t.member_id, t.order_ref, m.code, t.category, t.created_at,
       t.order_amount
""",
    "PARKING": """
INSERT INTO parking_sessions
  (business_unit_id, member_id, external_ref, plate, entered_at, exited_at, minutes, fee)
SELECT t.business_unit_id, t.member_id, 'P-' || t.id,
       '沪A' || lpad((t.member_id * 7919 % 100000)::text, 5, '0'),
       t.created_at - make_interval(mins => 30 + (t.id % 150)::int),
       t.created_at + make_interval(mins => 20),
       50 + (t.id % 150)::int,
       10 * greatest(0, ceil((50 + (t.id % 150) - 60) / 60.0))
""",
    "PROPERTY": """
INSERT INTO property_bills
  (business_unit_id, member_id, external_ref, period, bill_type, issued_at, paid_at, amount)
SELECT t.business_unit_id, t.member_id, t.order_ref,
       to_char(t.created_at AT TIME ZONE :tz, 'YYYY-MM'),
       (ARRAY['MANAGEMENT_FEE', 'WATER', 'ELECTRICITY'])[1 + (t.id % 3)::int],
       t.created_at - make_interval(days => 3), t.created_at, t.order_amount
""",
    "CONVENIENCE": """
INSERT INTO convenience_orders
  (business_unit_id, member_id, external_ref, store_code, ordered_at, items, amount)
SELECT t.business_unit_id, t.member_id, t.order_ref,
       'S' || lpad((1 + t.id % 8)::text, 3, '0'), t.created_at, 1 + (t.id % 6)::int,
       t.order_amount
""",
}


async def seed_format_activity(uow: UnitOfWork) -> dict[str, int]:
    """Fill the format tables from the ledger's earning orders; rows added per table."""
    added: dict[str, int] = {}
    for name, insert in STATEMENTS.items():
        kind = "MALL" if name == "PARKING" else name
        source = _EARNINGS
        if name == "MALL":
            source = _EARNINGS.replace(
                "WHERE", "LEFT JOIN merchants m ON m.id = t.merchant_id\nWHERE"
            )
        if name == "PARKING":
            source += "  AND t.id % 2 = 0\n"
        result = await uow.session.execute(
            text(insert + source + "ON CONFLICT DO NOTHING"), {"kind": kind, "tz": str(uow.tz)}
        )
        added[name] = int(getattr(result, "rowcount", 0) or 0)
    return added
