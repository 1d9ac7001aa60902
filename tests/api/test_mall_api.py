"""The mall over GraphQL: the catalogue anyone reads, the operators' edits, orders placed,
paid, shipped and cancelled by the callers allowed, typed refusals, and the order history of
many members read in one batch."""

from __future__ import annotations

from sqlalchemy import select

from app.models import OperatorAction
from tests.api.conftest import error_code
from tests.api.test_query_counts import run_counted
from tests.helpers import assert_clean
from tests.mall_helpers import TEA, item, member_with, order, voucher_item

ITEMS = """query($kind: MallItemKind, $first: Int, $after: String) {
    mallItems(kind: $kind, first: $first, after: $after) {
        edges { node { id name kind pointsPrice cashPrice stockRemaining supplier { code }
                       rights { code } tierOnly { code } } }
        pageInfo { hasNextPage endCursor } } }"""
CREATE = """mutation($input: CreateMallItemInput!) { createMallItem(input: $input) {
    item { id name kind cashPrice rights { code } } errors { code field } } }"""
PLACE = """mutation($input: PlaceMallOrderInput!) { placeMallOrder(input: $input) {
    order { id status quantity pointsSpent cashDue payBy item { name }
            rights { status source right { code } } }
    balance { available } replayed errors { code field message } } }"""
PAY = """mutation($input: ConfirmMallPaymentInput!) { confirmMallPayment(input: $input) {
    order { id status paidAt } replayed errors { code field } } }"""
SHIP = """mutation($input: ShipMallOrderInput!) { shipMallOrder(input: $input) {
    order { status shipment { carrier trackingNumber } } errors { code field } } }"""
CANCEL = """mutation($input: CancelMallOrderInput!) { cancelMallOrder(input: $input) {
    order { status cashRefundDue rights { status } } balance { available } errors { code } } }"""
HISTORY = """query($id: ID!, $first: Int, $after: String) { member(id: $id) {
    mallOrders(first: $first, after: $after) { edges { node { id status item { name } } }
    pageInfo { hasNextPage endCursor } } } }"""


async def test_anyone_reads_the_catalogue_by_kind_page_by_page(units, gql, uow_factory):
    voucher = await voucher_item(uow_factory, tier_only_code="GOLD")
    for n in range(3):
        await item(uow_factory, name=f"Gift {n}")
    await item(uow_factory, name="Withdrawn", active=False)
    first = (await gql(ITEMS, {"first": 2}))["data"]["mallItems"]
    assert [e["node"]["name"] for e in first["edges"]] == ["Museum pass", "Gift 0"]
    assert first["edges"][0]["node"]["rights"] == [{"code": "TOURISM-TICKET-0"}]
    assert first["edges"][0]["node"]["tierOnly"] == {"code": "GOLD"}
    assert first["edges"][0]["node"]["cashPrice"] == "0.00"
    rest = (await gql(ITEMS, {"first": 5, "after": first["pageInfo"]["endCursor"]}))["data"]
    assert [e["node"]["name"] for e in rest["mallItems"]["edges"]] == ["Gift 1", "Gift 2"]
    assert rest["mallItems"]["pageInfo"]["hasNextPage"] is False
    vouchers = (await gql(ITEMS, {"kind": "VOUCHER"}))["data"]["mallItems"]["edges"]
    assert [e["node"]["id"] for e in vouchers] == [str(voucher.id)]
    one = await gql("query($id: ID!) { mallItem(id: $id) { name } }", {"id": str(voucher.id)})
    assert one["data"]["mallItem"] == {"name": "Museum pass"}
    assert (await gql('{ mallItem(id: "x") { name } }'))["data"]["mallItem"] is None


async def test_operators_create_items_audited_and_bad_terms_are_typed(
    units, gql, creds, uow_factory
):
    ops = creds.operator()
    good = {"name": "Umbrella", "kind": "PHYSICAL", "supplierUnitId": "MALL", "pointsPrice": 300,
            "cashPrice": "9.90", "stock": 50, "reason": "autumn range"}  # fmt: skip
    made = (await gql(CREATE, {"input": good}, as_=ops))["data"]["createMallItem"]
    assert made["errors"] == [] and made["item"]["cashPrice"] == "9.90"
    async with uow_factory() as uow:
        logged = await uow.session.scalar(
            select(OperatorAction).where(OperatorAction.action == "mallItem.create")
        )
    assert logged.reason == "autumn range" and logged.detail["after"]["name"] == "Umbrella"
    for bad, field in (
        ({"name": "x" * 81}, "name"),
        ({"pointsPrice": 0, "cashPrice": None}, "pointsPrice"),
        ({"cashPrice": "1.001"}, "cashPrice"),
        ({"kind": "VOUCHER"}, "rightIds"),
        ({"supplierUnitId": "NOWHERE"}, "supplierUnitId"),
        ({"stock": -1}, "stock"),
    ):
        refused = (await gql(CREATE, {"input": {**good, **bad}}, as_=ops))["data"]["createMallItem"]
        assert refused["item"] is None and [e["field"] for e in refused["errors"]] == [field], bad
    member = await member_with(uow_factory)
    denied = await gql(CREATE, {"input": good}, as_=creds.member(member))
    assert error_code(denied) == "FORBIDDEN"


async def test_a_member_orders_a_voucher_once_per_key(units, gql, creds, uow_factory):
    package = await voucher_item(uow_factory, rights=2, stock=3)
    member = await member_with(uow_factory)
    me = creds.member(member)
    variables = {"input": {"itemId": str(package.id), "quantity": 1, "idempotencyKey": "o-1"}}
    first = (await gql(PLACE, variables, as_=me))["data"]["placeMallOrder"]
    assert first["errors"] == [] and first["replayed"] is False
    placed = first["order"]
    assert (placed["status"], placed["pointsSpent"], placed["cashDue"]) == (
        "FULFILLED",
        200,
        "0.00",
    )
    assert [r["source"] for r in placed["rights"]] == ["MALL_ORDER", "MALL_ORDER"]
    assert first["balance"]["available"] == 1800
    again = (await gql(PLACE, variables, as_=me))["data"]["placeMallOrder"]
    assert again["replayed"] is True and again["order"]["id"] == placed["id"]
    assert again["balance"]["available"] == 1800
    for quantity in (0, 10_000):
        bad = {
            "input": {**variables["input"], "quantity": quantity, "idempotencyKey": f"q{quantity}"}
        }
        refused = (await gql(PLACE, bad, as_=me))["data"]["placeMallOrder"]
        assert [(e["code"], e["field"]) for e in refused["errors"]] == [
            ("INVALID_INPUT", "quantity")
        ]
    short = {"input": {**variables["input"], "quantity": 3, "idempotencyKey": "o-3"}}
    refused = (await gql(PLACE, short, as_=me))["data"]["placeMallOrder"]
    assert [e["code"] for e in refused["errors"]] == ["OUT_OF_STOCK"]
    other = await member_with(uow_factory)
    theirs = {"input": {**variables["input"], "memberId": str(other), "idempotencyKey": "o-x"}}
    assert error_code(await gql(PLACE, theirs, as_=me)) == "FORBIDDEN"
    by_ops = (await gql(PLACE, theirs, as_=creds.operator()))["data"]["placeMallOrder"]
    assert by_ops["errors"] == [] and by_ops["balance"]["available"] == 1800
    await assert_clean(uow_factory)


async def test_a_gift_is_paid_by_the_payment_service_and_shipped_by_its_supplier(
    units, gql, creds, uow_factory
):
    gift = await item(uow_factory, TEA, cash_price="19.90")
    member = await member_with(uow_factory)
    me = creds.member(member)
    place = {"itemId": str(gift.id), "quantity": 1, "idempotencyKey": "g-1"}
    missing = (await gql(PLACE, {"input": place}, as_=me))["data"]["placeMallOrder"]
    assert [e["field"] for e in missing["errors"]] == ["deliveryAddress"]
    place["deliveryAddress"] = "1 Nanjing Road"
    placed = (await gql(PLACE, {"input": place}, as_=me))["data"]["placeMallOrder"]["order"]
    assert (placed["status"], placed["cashDue"]) == ("AWAITING_PAYMENT", "19.90")
    pay = {
        "orderId": placed["id"],
        "paymentRef": "WX-1",
        "amount": "19.90",
        "idempotencyKey": "p-1",
    }
    for caller in (me, creds.operator(), await creds.partner("MALL")):
        assert error_code(await gql(PAY, {"input": pay}, as_=caller)) == "FORBIDDEN"
    payments = await creds.partner("MALL", scopes="payments")
    wrong = await gql(
        PAY, {"input": {**pay, "amount": "19.00", "idempotencyKey": "p-0"}}, as_=payments
    )
    assert [e["code"] for e in wrong["data"]["confirmMallPayment"]["errors"]] == ["AMOUNT_MISMATCH"]
    paid = (await gql(PAY, {"input": pay}, as_=payments))["data"]["confirmMallPayment"]
    assert paid["errors"] == [] and paid["order"]["status"] == "PAID"
    replay = await gql(PAY, {"input": {**pay, "idempotencyKey": "p-2"}}, as_=payments)
    assert replay["data"]["confirmMallPayment"]["order"]["status"] == "PAID"
    ship = {"orderId": placed["id"], "carrier": "SF Express", "trackingNumber": "SF123"}
    foreign = await gql(SHIP, {"input": ship}, as_=await creds.partner("HOTEL"))
    assert error_code(foreign) == "FORBIDDEN"
    long = await gql(SHIP, {"input": {**ship, "carrier": "x" * 41}}, as_=creds.operator())
    assert [e["field"] for e in long["data"]["shipMallOrder"]["errors"]] == ["carrier"]
    shipped = (await gql(SHIP, {"input": ship}, as_=await creds.partner("MALL")))["data"]
    assert shipped["shipMallOrder"]["order"] == {
        "status": "SHIPPED", "shipment": {"carrier": "SF Express", "trackingNumber": "SF123"}
    }  # fmt: skip
    cancel = {"orderId": placed["id"], "idempotencyKey": "c-1"}
    late = (await gql(CANCEL, {"input": cancel}, as_=me))["data"]["cancelMallOrder"]
    assert [e["code"] for e in late["errors"]] == ["WRONG_STATE"]
    no_reason = await gql(
        CANCEL, {"input": {**cancel, "idempotencyKey": "c-2"}}, as_=creds.operator()
    )
    assert [e["code"] for e in no_reason["data"]["cancelMallOrder"]["errors"]] == ["INVALID_INPUT"]
    ops_cancel = {"input": {**cancel, "idempotencyKey": "c-3", "reason": "damaged"}}
    done = (await gql(CANCEL, ops_cancel, as_=creds.operator()))["data"]["cancelMallOrder"]
    assert done["order"]["status"] == "CANCELLED" and done["order"]["cashRefundDue"] == "19.90"
    assert done["balance"]["available"] == 2000
    await assert_clean(uow_factory)


async def test_order_history_pages_and_loads_in_one_batch(units, gql, creds, engine, uow_factory):
    gift = await item(uow_factory, stock=None, per_member_limit=None)
    members = [await member_with(uow_factory) for _ in range(6)]
    for member in members:
        for _ in range(3):
            await order(uow_factory, member, gift.id)
    me = creds.member(members[0])
    page = (await gql(HISTORY, {"id": str(members[0]), "first": 2}, as_=me))["data"]
    orders = page["member"]["mallOrders"]
    assert len(orders["edges"]) == 2 and orders["pageInfo"]["hasNextPage"] is True
    after = {"id": str(members[0]), "first": 2, "after": orders["pageInfo"]["endCursor"]}
    rest = (await gql(HISTORY, after, as_=me))["data"]["member"]["mallOrders"]
    assert len(rest["edges"]) == 1 and rest["pageInfo"]["hasNextPage"] is False
    ids = [int(e["node"]["id"]) for e in orders["edges"] + rest["edges"]]
    assert ids == sorted(ids, reverse=True)
    query = """query($first: Int!) { members(first: $first) { edges { node {
        id mallOrders(first: 5) { edges { node { status item { name supplier { code } }
        rights { code } } } } } } } }"""
    counts = {}
    for size in (2, 6):
        body, statements = await run_counted(gql, engine, creds.operator(), query, {"first": size})
        assert all(
            len(e["node"]["mallOrders"]["edges"]) == 3 for e in body["data"]["members"]["edges"]
        )
        counts[size] = len(statements)
    assert counts[2] == counts[6]


async def test_the_flash_gate_refuses_without_touching_the_database(
    units, gql, creds, engine, uow_factory, clock
):
    from datetime import timedelta

    from tests.api.test_query_counts import count_statements

    flash = await item(
        uow_factory, name="Earbuds", points_price=100, stock=1, per_member_limit=1,
        sale_starts_at=clock.now + timedelta(minutes=1), flash_sale=True,
    )  # fmt: skip
    first, second = await member_with(uow_factory), await member_with(uow_factory)

    def place(key: str) -> dict:
        return {"input": {"itemId": str(flash.id), "deliveryAddress": "1 Nanjing Road",
                          "idempotencyKey": key}}  # fmt: skip

    early = (await gql(PLACE, place("early"), as_=creds.member(first)))["data"]
    assert [e["code"] for e in early["placeMallOrder"]["errors"]] == ["NOT_ON_SALE"]
    clock.advance(minutes=2)
    won = (await gql(PLACE, place("k1"), as_=creds.member(first)))["data"]["placeMallOrder"]
    assert won["errors"] == [] and won["order"]["status"] == "PAID"
    again = (await gql(PLACE, place("k1"), as_=creds.member(first)))["data"]["placeMallOrder"]
    assert again["replayed"] is True and again["order"]["id"] == won["order"]["id"]
    for member, key, code in ((first, "k2", "LIMIT_REACHED"), (second, "k3", "OUT_OF_STOCK")):
        with count_statements(engine) as statements:
            body = await gql(PLACE, place(key), as_=creds.member(member))
        assert [e["code"] for e in body["data"]["placeMallOrder"]["errors"]] == [code]
        assert not any("mall_" in s or "member_balances" in s for s in statements), statements
    await assert_clean(uow_factory)


async def test_a_member_draws_the_lottery_with_its_odds_published(units, gql, creds, uow_factory):
    from app.domain.mall.lottery import PrizeSpec, create_lottery

    async with uow_factory() as uow:
        draw = await create_lottery(
            uow,
            name="Lucky draw",
            cost_points=10,
            daily_limit=1,
            actor="ops:test",
            prizes=[
                PrizeSpec("10 points", chance_ppm=250_000, points=10),
                PrizeSpec("Thank you", fallback=True),
            ],
        )
    listed = await gql("{ lotteries { id costPoints oddsVersion prizes { name probability } } }")
    assert listed["data"]["lotteries"] == [{
        "id": str(draw.id), "costPoints": 10, "oddsVersion": 1,
        "prizes": [{"name": "10 points", "probability": "0.250000"},
                   {"name": "Thank you", "probability": "0.750000"}],
    }]  # fmt: skip
    member = await member_with(uow_factory)
    query = """mutation($input: DrawLotteryInput!) { drawLottery(input: $input) {
        draw { id won oddsVersion prize { name } } balance { available } replayed
        errors { code } } }"""
    me = creds.member(member)
    variables = {"input": {"lotteryId": str(draw.id), "idempotencyKey": "d-1"}}
    first = (await gql(query, variables, as_=me))["data"]["drawLottery"]
    assert first["errors"] == [] and first["draw"]["oddsVersion"] == 1
    won = 10 if first["draw"]["won"] else 0
    assert first["balance"]["available"] == 2000 - 10 + won
    again = (await gql(query, variables, as_=me))["data"]["drawLottery"]
    assert again["replayed"] is True and again["draw"]["id"] == first["draw"]["id"]
    variables["input"]["idempotencyKey"] = "d-2"
    limited = (await gql(query, variables, as_=me))["data"]["drawLottery"]
    assert [e["code"] for e in limited["errors"]] == ["LIMIT_REACHED"]
    await assert_clean(uow_factory)


RECEIVE = """mutation($input: ConfirmMallReceiptInput!) { confirmMallReceipt(input: $input) {
    order { id status completedAt } replayed errors { code field } } }"""


async def test_a_member_confirms_receipt_of_their_shipped_gift(
    units, gql, creds, uow_factory, clock
):
    gift = await item(uow_factory)
    member, other = await member_with(uow_factory), await member_with(uow_factory)
    placed = await order(uow_factory, member, gift.id)
    receive = {"input": {"orderId": str(placed.id), "idempotencyKey": "r-1"}}
    early = (await gql(RECEIVE, receive, as_=creds.member(member)))["data"]["confirmMallReceipt"]
    assert [(e["code"], e["field"]) for e in early["errors"]] == [("WRONG_STATE", "orderId")]
    ship = {"input": {"orderId": str(placed.id), "carrier": "SF", "trackingNumber": "SF9"}}
    assert (await gql(SHIP, ship, as_=creds.operator("ops")))["data"]["shipMallOrder"][
        "errors"
    ] == []
    receive["input"]["idempotencyKey"] = "r-2"
    foreign = (await gql(RECEIVE, receive, as_=creds.member(other)))["data"]
    assert [e["code"] for e in foreign["confirmMallReceipt"]["errors"]] == ["NOT_FOUND"]
    done = (await gql(RECEIVE, receive, as_=creds.member(member)))["data"]["confirmMallReceipt"]
    assert done["errors"] == [] and done["order"]["status"] == "COMPLETED"
    assert done["order"]["completedAt"] == clock.now.isoformat()
    again = (await gql(RECEIVE, receive, as_=creds.member(member)))["data"]["confirmMallReceipt"]
    assert again["replayed"] is True and again["order"] == done["order"]
    cancel = {"input": {"orderId": str(placed.id), "idempotencyKey": "c-1"}}
    refused = (await gql(CANCEL, cancel, as_=creds.member(member)))["data"]["cancelMallOrder"]
    assert [e["code"] for e in refused["errors"]] == ["WRONG_STATE"]
    await assert_clean(uow_factory)


async def test_an_ops_order_and_a_cancel_reach_the_flash_gate_at_once(
    units, gql, creds, engine, uow_factory, clock, redis_client, settings
):
    """Stock ops take for a member, and stock a cancel gives back, pass no gate: the gate is
    told after the commit, not STATE_SECONDS later."""
    from datetime import timedelta

    from tests.api.test_query_counts import count_statements

    flash = await item(
        uow_factory, name="Earbuds", points_price=100, stock=2, per_member_limit=1,
        sale_starts_at=clock.now - timedelta(minutes=1), flash_sale=True,
    )  # fmt: skip
    first, second, third = [await member_with(uow_factory) for _ in range(3)]
    state = f"{settings.redis_prefix}flash:{{{flash.id}}}"

    def place(key: str, member: int | None = None) -> dict:
        return {"input": {"itemId": str(flash.id), "deliveryAddress": "1 Nanjing Road",
                          "idempotencyKey": key,
                          **({"memberId": str(member)} if member else {})}}  # fmt: skip

    won = (await gql(PLACE, place("a1"), as_=creds.member(first)))["data"]["placeMallOrder"]
    assert won["errors"] == [] and await redis_client.hget(state, "stock") == "1"
    ops = creds.operator("ops")
    for_second = (await gql(PLACE, place("o1", second), as_=ops))["data"]["placeMallOrder"]
    assert for_second["errors"] == [] and await redis_client.hget(state, "stock") == "0"
    assert await redis_client.get(f"{state}:m:{second}") == "1"
    with count_statements(engine) as statements:  # sold out at the gate, no database
        body = await gql(PLACE, place("c1"), as_=creds.member(third))
    assert [e["code"] for e in body["data"]["placeMallOrder"]["errors"]] == ["OUT_OF_STOCK"]
    assert not any("mall_" in s for s in statements), statements
    cancel = {
        "input": {"orderId": won["order"]["id"], "reason": "duplicate", "idempotencyKey": "x"}
    }
    assert (await gql(CANCEL, cancel, as_=ops))["data"]["cancelMallOrder"]["errors"] == []
    assert await redis_client.hget(state, "stock") == "1"
    assert await redis_client.get(f"{state}:m:{first}") == "0"
    again = (await gql(PLACE, place("a2"), as_=creds.member(first)))["data"]["placeMallOrder"]
    assert again["errors"] == [] and again["order"]["status"] == "PAID"
    assert await redis_client.hget(state, "stock") == "0"
    await assert_clean(uow_factory)


LOTTERY = "lottery { id name costPoints dailyLimit oddsVersion active prizes { id name probability stockRemaining budgetPoints fallback } }"  # noqa: E501
CREATE_LOTTERY = f"""mutation($input: CreateLotteryInput!) {{ createLottery(input: $input) {{
    {LOTTERY} replayed errors {{ code field message }} }} }}"""
PUBLISH = f"""mutation($input: PublishLotteryOddsInput!) {{ publishLotteryOdds(input: $input) {{
    {LOTTERY} errors {{ code field message }} }} }}"""
UPDATE_LOTTERY = f"""mutation($input: UpdateLotteryInput!) {{ updateLottery(input: $input) {{
    {LOTTERY} errors {{ code field }} }} }}"""


async def test_operators_create_a_lottery_and_publish_new_odds_audited(
    units, gql, creds, uow_factory
):
    from app.domain.mall.lottery import draw
    from app.models import LotteryDraw, LotteryOdds

    ticket = (await voucher_item(uow_factory)).right_ids[0]
    ops = creds.operator("ops")
    prizes = [
        {"name": "Boat ticket", "chancePpm": 100_000, "rightId": str(ticket), "stock": 5},
        {"name": "20 points", "chancePpm": 200_000, "points": 20, "budgetPoints": 1000},
        {"name": "Thank you", "fallback": True},
    ]
    made = (
        await gql(
            CREATE_LOTTERY,
            {
                "input": {
                    "name": "Autumn draw",
                    "costPoints": 10,
                    "dailyLimit": 3,
                    "prizes": prizes,
                    "reason": "autumn",
                    "idempotencyKey": "l-1",
                }
            },
            as_=ops,
        )
    )["data"]["createLottery"]
    assert made["errors"] == [] and made["lottery"]["oddsVersion"] == 1
    shown = made["lottery"]
    assert [(p["name"], p["probability"]) for p in shown["prizes"]] == [
        ("Boat ticket", "0.100000"), ("20 points", "0.200000"), ("Thank you", "0.700000"),
    ]  # fmt: skip
    ticket_prize, points_prize, fallback = (p["id"] for p in shown["prizes"])
    member = await member_with(uow_factory)
    async with uow_factory() as uow:  # a draw under version 1 lands on the ticket
        await draw(uow, lottery_id=shown["id"], member_id=member, caller="m", roll=lambda n: 0)

    def publish(rows: list[dict]) -> dict:
        return {"input": {"lotteryId": shown["id"], "prizes": rows, "reason": "restock"}}

    bad = {
        "over a million": [{"name": "A", "chancePpm": 700_000, "points": 1},
                           {"name": "B", "chancePpm": 400_000, "points": 1},
                           {"name": "T", "fallback": True}],
        "two fallbacks": [{"name": "T", "fallback": True}, {"name": "U", "fallback": True}],
        "negative stock": [{"name": "A", "chancePpm": 1, "points": 1, "stock": -1},
                           {"name": "T", "fallback": True}],
        "negative budget": [{"name": "A", "chancePpm": 1, "points": 1, "budgetPoints": -5},
                            {"name": "T", "fallback": True}],
        "a chance for the fallback": [{"name": "T", "chancePpm": 5, "fallback": True}],
        "a prize giving nothing": [{"name": "A", "chancePpm": 5},
                                   {"name": "T", "fallback": True}],
        "a kept prize giving another thing": [
            {"prizeId": points_prize, "name": "30 points", "chancePpm": 5, "points": 30},
            {"name": "T", "fallback": True}],
    }  # fmt: skip
    for label, rows in bad.items():
        body = (await gql(PUBLISH, publish(rows), as_=ops))["data"]["publishLotteryOdds"]
        assert [(e["code"], e["field"]) for e in body["errors"]] == [("INVALID_INPUT", "prizes")], (
            label
        )
    for rows in (
        [{"name": "X", "chancePpm": 5, "rightId": "999999"}, {"name": "T", "fallback": True}],
        [{"prizeId": "999999", "name": "X", "chancePpm": 5, "points": 1},
         {"name": "T", "fallback": True}],
    ):  # fmt: skip
        body = (await gql(PUBLISH, publish(rows), as_=ops))["data"]["publishLotteryOdds"]
        assert [e["code"] for e in body["errors"]] == ["NOT_FOUND"]
    table = [
        {"prizeId": ticket_prize, "name": "Boat ticket", "chancePpm": 50_000,
         "rightId": str(ticket), "stock": 10},
        {"name": "100 points", "chancePpm": 10_000, "points": 100, "budgetPoints": 500},
        {"prizeId": fallback, "name": "Thank you", "fallback": True},
    ]  # fmt: skip
    published = (await gql(PUBLISH, publish(table), as_=ops))["data"]["publishLotteryOdds"]
    assert published["errors"] == [], published
    now = published["lottery"]
    assert now["oddsVersion"] == 2
    assert [(p["name"], p["probability"], p["stockRemaining"]) for p in now["prizes"]] == [
        ("Boat ticket", "0.050000", 10), ("100 points", "0.010000", None),
        ("Thank you", "0.940000", None),
    ]  # fmt: skip
    assert now["prizes"][0]["id"] == ticket_prize and points_prize not in {
        p["id"] for p in now["prizes"]
    }  # the 20 points prize is retired
    async with uow_factory() as uow:  # the same roll under version 2: still the ticket
        await draw(uow, lottery_id=shown["id"], member_id=member, caller="m", roll=lambda n: 0)
        await draw(uow, lottery_id=shown["id"], member_id=member, caller="m", roll=lambda n: 55_000)
    async with uow_factory() as uow:
        draws = list(await uow.session.scalars(select(LotteryDraw).order_by(LotteryDraw.id)))
        versions = {
            v: (await uow.session.get(LotteryOdds, (int(shown["id"]), v))).odds for v in (1, 2)
        }
        audit = list(
            await uow.session.scalars(
                select(OperatorAction.action).where(OperatorAction.target_kind == "lottery")
            )
        )
    assert [d.odds_version for d in draws] == [1, 2, 2]
    assert [str(d.prize_id) for d in draws] == [ticket_prize, ticket_prize, now["prizes"][1]["id"]]
    assert [row["chancePpm"] for row in versions[1]] == [100_000, 200_000, 700_000]
    assert sorted(audit) == ["lottery.create", "lottery.publishOdds"]
    changed = (
        await gql(
            UPDATE_LOTTERY,
            {
                "input": {
                    "lotteryId": shown["id"],
                    "costPoints": 20,
                    "active": False,
                    "reason": "paused",
                }
            },
            as_=ops,
        )
    )["data"]["updateLottery"]
    assert changed["errors"] == [] and changed["lottery"]["costPoints"] == 20
    assert changed["lottery"]["active"] is False
    zero = (
        await gql(UPDATE_LOTTERY, {"input": {"lotteryId": shown["id"], "dailyLimit": 0}}, as_=ops)
    )["data"]["updateLottery"]
    assert [(e["code"], e["field"]) for e in zero["errors"]] == [("INVALID_INPUT", "dailyLimit")]
    listed = await gql("{ lotteries { id } }")
    assert listed["data"]["lotteries"] == []  # closed
    await assert_clean(uow_factory)
