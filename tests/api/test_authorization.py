"""Who may call what: one row per (operation, caller) with the outcome the gateway must give.

The member is registered via HOTEL (so the HOTEL partner has seen them) and has points earned
and spent there; the MALL partner has never seen them. Outcomes: DATA (the field resolves),
or a GraphQL error whose `extensions.code` is UNAUTHENTICATED, FORBIDDEN or NOT_FOUND. A refused
mutation records nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import func, select, update

from app.domain.access.tokens import (
    ALGORITHM,
    AUDIENCE,
    ISSUER,
    mint_member_token,
    mint_operator_token,
)
from app.domain.mall.catalogue import MallItemSpec, create_item
from app.domain.mall.lottery import PrizeSpec, create_lottery
from app.domain.mall.orders import place_order
from app.domain.members.dynamic_codes import issue_code
from app.domain.rights.catalogue import RightSpec, create_right
from app.domain.rights.wallet import buy_right
from app.models import (
    IdempotencyKey,
    MallItem,
    MallOrder,
    Member,
    MemberRight,
    MemberUnitLink,
    PartnerKey,
    PointsTransaction,
)
from tests.api.conftest import error_code, refusal
from tests.helpers import earn, new_member, spend

DATA = "DATA"
UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
NOT_FOUND = "NOT_FOUND"

CALLERS = ("anonymous", "member", "other_member", "hotel", "mall", "ops", "finance")


@dataclass
class World:
    member: int
    other: int
    earn_tx: int
    spend_tx: int
    code: str
    external_id: str
    right_id: int = 0  # a HOTEL right for sale, refundable
    voucher: str = ""  # the member bought one: its code
    voucher_id: int = 0
    mall: dict[str, int] = field(default_factory=dict)  # items and orders of the mall
    headers: dict[str, dict] = field(default_factory=dict)

    def unit_of(self, caller: str) -> str:
        """A partner acts at its own unit; everyone else asks about HOTEL."""
        return "MALL" if caller == "mall" else "HOTEL"


@pytest.fixture
async def world(units, uow_factory, creds, redis_client, settings, clock) -> World:
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL", external_id="H-0001")
        other = await new_member(uow, "MALL")
        earned = await earn(uow, member, "2500", unit="HOTEL")  # 5000 points
        spent = await spend(uow, member, 1000, unit="HOTEL")
        lounge = RightSpec("HOTEL", "Lounge", "LOUNGE_PASS", 30, points_price=100, refundable=True)
        right = await create_right(uow, spec=lounge, actor="ops:test")
        held = await buy_right(uow, member_id=member, right_id=right.id, caller="test")
        mall = await _mall(uow, member, right.id)
    code, _ = await issue_code(
        redis_client,
        prefix=settings.redis_prefix,
        member_id=member,
        now=clock.now,
        ttl_seconds=settings.dynamic_code_ttl_seconds,
    )
    w = World(member, other, earned.id, spent.id, code, "H-0001", right.id, held.code, held.id)
    w.mall = mall
    w.headers = {
        "anonymous": {},
        "member": creds.member(member),
        "other_member": creds.member(other),
        "hotel": await creds.partner("HOTEL"),
        "mall": await creds.partner("MALL"),
        "ops": creds.operator("ops"),
        "finance": creds.operator("finance"),
    }
    return w


async def _mall(uow, member: int, right_id: int) -> dict[str, int]:
    """A MALL gift (points), a HOTEL voucher of the lounge, a MALL gift for points + cash; the
    member's PAID gift order and AWAITING_PAYMENT one."""
    gift = MallItemSpec("Tea set", "PHYSICAL", "MALL", points_price=100, stock=10)
    lounge = MallItemSpec("Lounge", "VOUCHER", "HOTEL", points_price=100, right_ids=(right_id,))
    made = {
        name: (await create_item(uow, spec=spec, actor="ops:test")).id or 0
        for name, spec in (
            ("gift", gift),
            ("voucher", lounge),
            ("cash_gift", replace(gift, cash_price="5.00")),
        )
    }
    for name, item in (("paid", made["gift"]), ("unpaid", made["cash_gift"])):
        placed = await place_order(
            uow, member_id=member, item_id=item, quantity=1, caller="test",
            payment_window=timedelta(minutes=15), delivery_address="1 Nanjing Road",
        )  # fmt: skip
        made[name] = placed.id or 0
    nothing = [PrizeSpec("Thank you", fallback=True)]
    drawn = await create_lottery(
        uow, name="Draw", cost_points=10, daily_limit=5, prizes=nothing, actor="ops:test"
    )
    made["lottery"] = drawn.id or 0
    return made


async def recorded(uow_factory) -> tuple[int, ...]:
    """Row counts that any recorded effect would change."""
    async with uow_factory() as uow:
        counts = []
        for model in (
            PointsTransaction, Member, MemberUnitLink, IdempotencyKey, MemberRight, MallItem,
            MallOrder,
        ):  # fmt: skip
            counts.append(await uow.session.scalar(select(func.count()).select_from(model)))
        return tuple(counts)


@dataclass(frozen=True)
class Operation:
    root: str
    document: str
    variables: Callable[[World, str], dict[str, Any]]
    shows: Callable[[Any], Any]  # what an allowed answer is reduced to ...
    expected: Callable[[World, str], Any]  # ... and what it must equal


def _own_id(w: World, caller: str) -> str:
    return str(w.other if caller == "other_member" else w.member)


def _member_id(w: World, caller: str) -> str:
    return str(w.member)


def _ids(data: Any) -> list[int]:
    return sorted(int(edge["node"]["id"]) for edge in data["edges"])


def _till_input(w: World, caller: str, **fields: Any) -> dict[str, Any]:
    return {"input": {"memberId": str(w.member), "businessUnitId": w.unit_of(caller), **fields}}


OPERATIONS: dict[str, Operation] = {
    "me": Operation("me", "{ me { id } }", lambda w, c: {}, lambda d: d["id"], _own_id),
    "member": Operation(
        "member",
        "query($id: ID!) { member(id: $id) { id displayName } }",
        lambda w, c: {"id": str(w.member)},
        lambda d: d["id"],
        _member_id,
    ),
    "memberByCode": Operation(
        "memberByCode",
        "query($code: String!) { memberByCode(code: $code) { id } }",
        lambda w, c: {"code": w.code},
        lambda d: d["id"],
        _member_id,
    ),
    "memberByExternalId": Operation(
        "memberByExternalId",
        "query($ext: String!, $unit: ID) {"
        " memberByExternalId(externalId: $ext, businessUnitId: $unit) { id } }",
        lambda w, c: {"ext": w.external_id, "unit": "HOTEL"},
        lambda d: d["id"],
        _member_id,
    ),
    "members": Operation(
        "members",
        "{ members(first: 10) { edges { node { id } } } }",
        lambda w, c: {},
        _ids,
        lambda w, c: sorted([w.member, w.other]),
    ),
    "businessUnits": Operation(
        "businessUnits",
        "{ businessUnits { id code name kind } }",
        lambda w, c: {},
        lambda d: sorted(unit["code"] for unit in d),
        lambda w, c: sorted(["MALL", "HOTEL", "OFFICE", "PROPERTY", "CONVENIENCE", "TOURISM"]),
    ),
    "previewEarn": Operation(
        "previewEarn",
        "query($input: EarnPointsInput!) { previewEarn(input: $input) { points } }",
        lambda w, c: _till_input(w, c, orderRef="P1", amount="100.00"),
        lambda d: d["points"],
        lambda w, c: 200,  # HOTEL earns 2 points per CNY
    ),
    "registerMember": Operation(
        "registerMember",
        "mutation($input: RegisterMemberInput!) {"
        " registerMember(input: $input) { member { phoneMasked } errors { code field } } }",
        lambda w, c: {
            "input": {
                "phone": "13711112222",
                "displayName": "New Member",
                "businessUnitId": w.unit_of(c),
                "idempotencyKey": "reg-1",
            }
        },
        lambda d: (d["member"], d["errors"]),
        lambda w, c: ({"phoneMasked": "137****2222"}, []),
    ),
    "earnPoints": Operation(
        "earnPoints",
        "mutation($input: EarnPointsInput!) {"
        " earnPoints(input: $input) { points errors { code field } } }",
        lambda w, c: _till_input(w, c, orderRef="AUTH-E1", amount="50.00", idempotencyKey="earn-1"),
        lambda d: (d["points"], d["errors"]),
        lambda w, c: (100, []),
    ),
    "spendPoints": Operation(
        "spendPoints",
        "mutation($input: SpendPointsInput!) {"
        " spendPoints(input: $input) { pointsSpent errors { code field } } }",
        lambda w, c: _till_input(
            w, c, orderRef="AUTH-S1", orderAmount="100.00", points=100, idempotencyKey="spend-1"
        ),
        lambda d: (d["pointsSpent"], d["errors"]),
        lambda w, c: (100, []),
    ),
    "reverseTransaction": Operation(
        "reverseTransaction",
        "mutation($input: ReverseTransactionInput!) {"
        " reverseTransaction(input: $input) { transaction { kind points } errors { code } } }",
        lambda w, c: {
            "input": {
                "transactionId": str(w.spend_tx),
                "reason": "order cancelled",
                "idempotencyKey": "rev-1",
            }
        },
        lambda d: (d["transaction"], d["errors"]),
        lambda w, c: ({"kind": "SPEND_REVERSAL", "points": 1000}, []),
    ),
    "dynamicCode": Operation(
        "member",
        "query($id: ID!) { member(id: $id) { id dynamicCode { code } } }",
        lambda w, c: {"id": str(w.member)},
        lambda d: (d["id"], len(d["dynamicCode"]["code"])),
        lambda w, c: (str(w.member), 18),
    ),
    "rights": Operation(
        "rights",
        "{ rights(first: 5) { edges { node { code } } } }",
        lambda w, c: {},
        lambda d: [edge["node"]["code"] for edge in d["edges"]],
        lambda w, c: ["HOTEL-LOUNGE"],
    ),
    "voucher": Operation(
        "voucher",
        "query($code: String!) { voucher(code: $code) { status right { code } } }",
        lambda w, c: {"code": w.voucher},
        lambda d: (d["status"], d["right"]["code"]),
        lambda w, c: ("ACTIVE", "HOTEL-LOUNGE"),
    ),
    "writeOffVoucher": Operation(
        "writeOffVoucher",
        "mutation($input: WriteOffVoucherInput!) { writeOffVoucher(input: $input) {"
        " memberRight { status } errors { code } } }",
        lambda w, c: {"input": {"code": w.voucher, "idempotencyKey": "wo-1"}},
        lambda d: (d["memberRight"]["status"], d["errors"]),
        lambda w, c: ("USED", []),
    ),
    "grantRight": Operation(
        "grantRight",
        "mutation($input: GrantRightInput!) { grantRight(input: $input) {"
        " memberRight { source } errors { code } } }",
        lambda w, c: {
            "input": {
                "memberId": str(w.member),
                "rightId": str(w.right_id),
                "reason": "goodwill",
                "idempotencyKey": "grant-1",
            }
        },
        lambda d: (d["memberRight"]["source"], d["errors"]),
        lambda w, c: ("OPERATOR", []),
    ),
    "revokeRight": Operation(
        "revokeRight",
        "mutation($input: RevokeRightInput!) { revokeRight(input: $input) {"
        " memberRight { status } errors { code } } }",
        lambda w, c: {"input": {"memberRightId": str(w.voucher_id), "reason": "fraud"}},
        lambda d: (d["memberRight"]["status"], d["errors"]),
        lambda w, c: ("REVOKED", []),
    ),
    "refundRight": Operation(
        "refundRight",
        "mutation($input: RefundRightInput!) { refundRight(input: $input) {"
        " memberRight { status } pointsReturned errors { code } } }",
        lambda w, c: {"input": {"memberRightId": str(w.voucher_id), "idempotencyKey": "rf-1"}},
        lambda d: (
            d["memberRight"] and d["memberRight"]["status"],
            d["pointsReturned"],
            [e["code"] for e in d["errors"]],
        ),
        # another member is told it does not exist, as for any wallet entry not theirs
        lambda w, c: (None, None, ["NOT_FOUND"]) if c == "other_member" else ("REFUNDED", 100, []),
    ),
    "setTierRight": Operation(
        "setTierRight",
        "mutation($input: SetTierRightInput!) { setTierRight(input: $input) {"
        " tierRight { quantity } errors { code } } }",
        lambda w, c: {
            "input": {
                "tierCode": "GOLD",
                "rightId": str(w.right_id),
                "quantity": 2,
                "period": "MONTH",
            }
        },
        lambda d: (d["tierRight"], d["errors"]),
        lambda w, c: ({"quantity": 2}, []),
    ),
    "mySessions": Operation(
        "mySessions",
        "{ mySessions { id current } }",
        lambda w, c: {},
        lambda d: d,
        lambda w, c: [],  # tokens minted outside a sign-in belong to no session
    ),
    "refreshSession": Operation(
        "refreshSession",
        "mutation($input: RefreshSessionInput!) { refreshSession(input: $input) {"
        " errors { code } } }",
        lambda w, c: {"input": {"refreshToken": "not-a-refresh-token"}},
        lambda d: [e["code"] for e in d["errors"]],
        lambda w, c: ["INVALID_TOKEN"],
    ),
    "unbindWeChat": Operation(
        "unbindWeChat",
        "mutation($input: UnbindWeChatInput!) { unbindWeChat(input: $input) {"
        " unbound errors { code } } }",
        lambda w, c: {"input": {"memberId": str(w.member), "reason": "phone changed hands"}},
        lambda d: (d["unbound"], d["errors"]),
        lambda w, c: (0, []),  # the member never signed in with WeChat: nothing to unbind
    ),
    "settlementStatement": Operation(
        "settlementStatement",
        "query($period: String!) { settlementStatement(period: $period) {"
        " status parties { party } } }",
        lambda w, c: {"period": "2026-06"},
        lambda d: (d["status"], "HOTEL" in [p["party"] for p in d["parties"]]),
        lambda w, c: ("OPEN", True),
    ),
    "closeSettlementPeriod": Operation(
        "closeSettlementPeriod",
        "mutation($period: String!) { closeSettlementPeriod(period: $period) {"
        " statement { status } errors { code } } }",
        lambda w, c: {"period": "2026-05"},
        lambda d: (d["statement"], d["errors"]),
        lambda w, c: ({"status": "CLOSED"}, []),
    ),
    "recordPointBlock": Operation(
        "recordPointBlock",
        "mutation($input: RecordPointBlockInput!) { recordPointBlock(input: $input) {"
        " block { points } errors { code } } }",
        lambda w, c: {
            "input": {
                "businessUnitId": "HOTEL",
                "points": 1000,
                "amount": "10.00",
                "idempotencyKey": "block-1",
            }
        },
        lambda d: (d["block"], d["errors"]),
        lambda w, c: ({"points": 1000}, []),
    ),
    # Figures: a unit's read key its own unit's programme figures only; ops and finance all.
    "programFigures": Operation(
        "programFigures",
        'query($unit: ID) { programFigures(period: "2026-06", businessUnitId: $unit) {'
        " period businessUnit { code } } }",
        lambda w, c: {"unit": w.unit_of(c)},
        lambda d: (d["period"], d["businessUnit"]["code"]),
        lambda w, c: ("2026-06", w.unit_of(c)),
    ),
    "programFiguresOfGroup": Operation(
        "programFigures",
        '{ programFigures(period: "2026-06") { period businessUnit { code } } }',
        lambda w, c: {},
        lambda d: (d["period"], d["businessUnit"]),
        lambda w, c: ("2026-06", None),
    ),
    "programFiguresOfOffice": Operation(
        "programFigures",
        '{ programFigures(period: "2026-06", businessUnitId: "OFFICE") { period } }',
        lambda w, c: {},
        lambda d: d["period"],
        lambda w, c: "2026-06",
    ),
    "formatOverlap": Operation(
        "formatOverlap",
        '{ formatOverlap(period: "2026-06") { members } }',
        lambda w, c: {},
        len,
        lambda w, c: 15,
    ),
    "memberSegments": Operation(
        "memberSegments",
        '{ memberSegments(period: "2026-06") { segment members } }',
        lambda w, c: {},
        len,
        lambda w, c: 6,
    ),
    "referralStats": Operation(
        "referralStats",
        '{ referralStats(period: "2026-06") { coefficient } }',
        lambda w, c: {},
        lambda d: d["coefficient"],
        lambda w, c: "0.0000",
    ),
    "expiringPoints": Operation(
        "expiringPoints",
        "{ expiringPoints(withinDays: 30) { edges { node { points } } } }",
        lambda w, c: {},
        lambda d: d["edges"],
        lambda w, c: [],
    ),
    "mallItems": Operation(
        "mallItems",
        "{ mallItems(first: 5) { edges { node { name } } } }",
        lambda w, c: {},
        lambda d: [edge["node"]["name"] for edge in d["edges"]],
        lambda w, c: ["Tea set", "Lounge", "Tea set"],
    ),
    "createMallItem": Operation(
        "createMallItem",
        "mutation($input: CreateMallItemInput!) { createMallItem(input: $input) {"
        " item { name } errors { code } } }",
        lambda w, c: {
            "input": {
                "name": "Mug",
                "kind": "PHYSICAL",
                "supplierUnitId": "MALL",
                "pointsPrice": 50,
            }
        },
        lambda d: (d["item"], d["errors"]),
        lambda w, c: ({"name": "Mug"}, []),
    ),
    "placeMallOrder": Operation(
        "placeMallOrder",
        "mutation($input: PlaceMallOrderInput!) { placeMallOrder(input: $input) {"
        " order { status } errors { code } } }",
        lambda w, c: {
            "input": {
                "itemId": str(w.mall["voucher"]),
                "idempotencyKey": "mall-1",
                **({} if c in ("member", "other_member") else {"memberId": str(w.member)}),
            }
        },
        lambda d: (d["order"], [e["code"] for e in d["errors"]]),
        # the other member orders for themself, with no points
        lambda w, c: (
            (None, ["INSUFFICIENT_POINTS"])
            if c == "other_member"
            else ({"status": "FULFILLED"}, [])
        ),
    ),
    "cancelMallOrder": Operation(
        "cancelMallOrder",
        "mutation($input: CancelMallOrderInput!) { cancelMallOrder(input: $input) {"
        " order { status } errors { code } } }",
        lambda w, c: {
            "input": {
                "orderId": str(w.mall["paid"]),
                "reason": "changed mind",
                "idempotencyKey": "mall-c1",
            }
        },
        lambda d: (d["order"], [e["code"] for e in d["errors"]]),
        # another member is told it does not exist, as for any order not theirs
        lambda w, c: (
            (None, ["NOT_FOUND"]) if c == "other_member" else ({"status": "CANCELLED"}, [])
        ),
    ),
    "confirmMallPayment": Operation(
        "confirmMallPayment",
        "mutation($input: ConfirmMallPaymentInput!) { confirmMallPayment(input: $input) {"
        " order { status } errors { code } } }",
        lambda w, c: {
            "input": {
                "orderId": str(w.mall["unpaid"]),
                "paymentRef": "WX-1",
                "amount": "5.00",
                "idempotencyKey": "mall-p1",
            }
        },
        lambda d: (d["order"], d["errors"]),
        lambda w, c: ({"status": "PAID"}, []),
    ),
    "lotteries": Operation(
        "lotteries",
        "{ lotteries { name costPoints } }",
        lambda w, c: {},
        lambda d: d,
        lambda w, c: [{"name": "Draw", "costPoints": 10}],
    ),
    "drawLottery": Operation(
        "drawLottery",
        "mutation($input: DrawLotteryInput!) { drawLottery(input: $input) {"
        " draw { won } errors { code } } }",
        lambda w, c: {
            "input": {
                "lotteryId": str(w.mall["lottery"]),
                "idempotencyKey": "draw-1",
                **({} if c in ("member", "other_member") else {"memberId": str(w.member)}),
            }
        },
        lambda d: (d["draw"], [e["code"] for e in d["errors"]]),
        # the other member draws for themself, with no points
        lambda w, c: (
            (None, ["INSUFFICIENT_POINTS"]) if c == "other_member" else ({"won": False}, [])
        ),
    ),
    "shipMallOrder": Operation(
        "shipMallOrder",
        "mutation($input: ShipMallOrderInput!) { shipMallOrder(input: $input) {"
        " order { status } errors { code } } }",
        lambda w, c: {
            "input": {"orderId": str(w.mall["paid"]), "carrier": "SF", "trackingNumber": "SF1"}
        },
        lambda d: (d["order"], d["errors"]),
        lambda w, c: ({"status": "SHIPPED"}, []),
    ),
    "confirmMallReceipt": Operation(
        "confirmMallReceipt",
        "mutation($input: ConfirmMallReceiptInput!) { confirmMallReceipt(input: $input) {"
        " order { status } errors { code } } }",
        lambda w, c: {"input": {"orderId": str(w.mall["paid"]), "idempotencyKey": "mall-r1"}},
        lambda d: (d["order"], [e["code"] for e in d["errors"]]),
        # allowed, but the gift has not shipped; another member is told it does not exist
        lambda w, c: (None, ["NOT_FOUND" if c == "other_member" else "WRONG_STATE"]),
    ),
    "updateMallItem": Operation(
        "updateMallItem",
        "mutation($input: UpdateMallItemInput!) { updateMallItem(input: $input) {"
        " item { pointsPrice } errors { code } } }",
        lambda w, c: {"input": {"itemId": str(w.mall["gift"]), "pointsPrice": 120}},
        lambda d: (d["item"], d["errors"]),
        lambda w, c: ({"pointsPrice": 120}, []),
    ),
    "createLottery": Operation(
        "createLottery",
        "mutation($input: CreateLotteryInput!) { createLottery(input: $input) {"
        " lottery { name oddsVersion } errors { code } } }",
        lambda w, c: {
            "input": {
                "name": "Spring draw",
                "costPoints": 10,
                "dailyLimit": 3,
                "prizes": [{"name": "Thank you", "fallback": True}],
            }
        },
        lambda d: (d["lottery"], d["errors"]),
        lambda w, c: ({"name": "Spring draw", "oddsVersion": 1}, []),
    ),
    "updateLottery": Operation(
        "updateLottery",
        "mutation($input: UpdateLotteryInput!) { updateLottery(input: $input) {"
        " lottery { costPoints } errors { code } } }",
        lambda w, c: {"input": {"lotteryId": str(w.mall["lottery"]), "costPoints": 20}},
        lambda d: (d["lottery"], d["errors"]),
        lambda w, c: ({"costPoints": 20}, []),
    ),
    "publishLotteryOdds": Operation(
        "publishLotteryOdds",
        "mutation($input: PublishLotteryOddsInput!) { publishLotteryOdds(input: $input) {"
        " lottery { oddsVersion } errors { code } } }",
        lambda w, c: {
            "input": {
                "lotteryId": str(w.mall["lottery"]),
                "prizes": [
                    {"name": "5 points", "chancePpm": 100000, "points": 5},
                    {"name": "Thank you", "fallback": True},
                ],
            }
        },
        lambda d: (d["lottery"], d["errors"]),
        lambda w, c: ({"oddsVersion": 2}, []),
    ),
    "pointBlocks": Operation(
        "pointBlocks",
        '{ pointBlocks(businessUnitId: "HOTEL") { points drawn remaining } }',
        lambda w, c: {},
        lambda d: d,
        lambda w, c: [],  # HOTEL is post-paid in the world: no blocks
    ),
    "setFundingModel": Operation(
        "setFundingModel",
        "mutation($input: SetFundingModelInput!) { setFundingModel(input: $input) {"
        " fundingModel errors { code } } }",
        lambda w, c: {"input": {"businessUnitId": "HOTEL", "model": "POST_PAID"}},
        lambda d: (d["fundingModel"], d["errors"]),
        lambda w, c: ("POST_PAID", []),
    ),
    "setSettlementTerms": Operation(
        "setSettlementTerms",
        "mutation($input: SetSettlementTermsInput!) { setSettlementTerms(input: $input) {"
        " clearingPrice errors { code } } }",
        lambda w, c: {
            "input": {
                "effectiveFrom": "2026-07-01",
                "clearingPrice": "0.01",
                "breakagePolicy": "GROUP",
            }
        },
        lambda d: (d["clearingPrice"], d["errors"]),
        lambda w, c: ("0.01", []),
    ),
    "setUnitSettlementTerms": Operation(
        "setUnitSettlementTerms",
        "mutation($input: SetUnitSettlementTermsInput!) { setUnitSettlementTerms(input: $input) {"
        " billingPercentage errors { code } } }",
        lambda w, c: {
            "input": {
                "businessUnitId": "HOTEL",
                "effectiveFrom": "2026-07-01",
                "billingPercentage": "90",
            }
        },
        lambda d: (d["billingPercentage"], d["errors"]),
        lambda w, c: ("90", []),
    ),
}

U, D, F, N = UNAUTHENTICATED, DATA, FORBIDDEN, NOT_FOUND
# caller order:       anonymous member other hotel mall  ops finance
EXPECTED = {
    "me":                 (U, D, D, F, F, F, F),
    "member":             (U, D, F, D, F, D, F),
    "memberByCode":       (U, F, F, D, D, D, F),
    "memberByExternalId": (U, F, F, D, N, D, F),
    "members":            (U, F, F, F, F, D, F),
    "businessUnits":      (D, D, D, D, D, D, D),
    "previewEarn":        (U, D, F, D, F, D, F),
    "registerMember":     (U, F, F, D, D, D, F),
    "earnPoints":         (U, F, F, D, F, D, F),
    "spendPoints":        (U, F, F, D, F, D, F),
    "reverseTransaction": (U, F, F, D, F, D, F),
    "dynamicCode":        (U, D, F, F, F, F, F),
    "rights":             (D, D, D, D, D, D, D),
    "voucher":            (U, F, F, D, F, D, F),
    "writeOffVoucher":    (U, F, F, D, F, D, F),
    "grantRight":         (U, F, F, F, F, D, F),
    "revokeRight":        (U, F, F, F, F, D, F),
    "refundRight":        (U, D, D, F, F, D, F),
    "setTierRight":       (U, F, F, F, F, D, F),
    "mySessions":         (U, D, D, F, F, F, F),
    "refreshSession":     (D, D, D, D, D, D, D),
    "unbindWeChat":       (U, F, F, F, F, D, F),
    "settlementStatement": (U, F, F, F, F, D, D),
    "closeSettlementPeriod": (U, F, F, F, F, F, D),
    "recordPointBlock":   (U, F, F, F, F, F, D),
    "programFigures":     (U, F, F, D, D, D, D),
    "programFiguresOfGroup": (U, F, F, F, F, D, D),
    "programFiguresOfOffice": (U, F, F, F, F, D, D),
    "formatOverlap":      (U, F, F, F, F, D, D),
    "memberSegments":     (U, F, F, F, F, D, D),
    "referralStats":      (U, F, F, F, F, D, D),
    "expiringPoints":     (U, F, F, F, F, D, D),
    "mallItems":          (D, D, D, D, D, D, D),
    "createMallItem":     (U, F, F, F, F, D, F),
    "placeMallOrder":     (U, D, D, F, F, D, F),
    "cancelMallOrder":    (U, D, D, F, F, D, F),
    "confirmMallPayment": (U, F, F, F, F, F, F),  # the payment service's key only
    "shipMallOrder":      (U, F, F, F, D, D, F),  # the supplier (MALL) or ops
    "lotteries":          (D, D, D, D, D, D, D),
    "drawLottery":        (U, D, D, F, F, D, F),
    "confirmMallReceipt": (U, D, D, F, F, D, F),
    "updateMallItem":     (U, F, F, F, F, D, F),
    "createLottery":      (U, F, F, F, F, D, F),
    "updateLottery":      (U, F, F, F, F, D, F),
    "publishLotteryOdds": (U, F, F, F, F, D, F),
    "pointBlocks":        (U, F, F, F, F, D, D),
    "setFundingModel":    (U, F, F, F, F, F, D),
    "setSettlementTerms": (U, F, F, F, F, F, D),
    "setUnitSettlementTerms": (U, F, F, F, F, F, D),
}  # fmt: skip

MATRIX = [
    pytest.param(op, caller, outcome, id=f"{op}-{caller}-{outcome}")
    for op, outcomes in EXPECTED.items()
    for caller, outcome in zip(CALLERS, outcomes, strict=True)
]


@pytest.mark.parametrize(("op", "caller", "outcome"), MATRIX)
async def test_authorisation_matrix(op, caller, outcome, world, gql, uow_factory):
    operation = OPERATIONS[op]
    before = await recorded(uow_factory)
    body = await gql(
        operation.document, operation.variables(world, caller), as_=world.headers[caller]
    )
    if outcome == DATA:
        assert "errors" not in body, body
        answer = operation.shows(body["data"][operation.root])
        assert answer == operation.expected(world, caller)
        return
    assert error_code(body) == outcome, body
    assert body["errors"][0]["message"] != "Internal error."
    assert (body["data"] or {}).get(operation.root) is None
    assert await recorded(uow_factory) == before, "a refused request recorded something"


# --- Credentials that do not authenticate are refused: 401 with a reason, never anonymous ---


def _forged(settings) -> dict:
    token = mint_member_token(
        settings.__class__(jwt_secret="someone-elses-secret-of-at-least-32-bytes"), 1
    )
    return {"Authorization": f"Bearer {token}"}


def _expired(settings) -> dict:
    token = mint_member_token(settings, 1, now=datetime.now(UTC) - timedelta(days=30))
    return {"Authorization": f"Bearer {token}"}


def _expired_operator(settings) -> dict:
    token = mint_operator_token(settings, "ops-1", "ops", now=datetime(2020, 1, 1, tzinfo=UTC))
    return {"Authorization": f"Bearer {token}"}


def _unsigned(settings) -> dict:
    claims = {"sub": "1", "kind": "member", "iss": ISSUER, "exp": 4102444800}
    return {"Authorization": f"Bearer {jwt.encode(claims, key=None, algorithm='none')}"}


def _wrong_issuer(settings) -> dict:
    claims = {"sub": "1", "kind": "member", "iss": "elsewhere", "aud": AUDIENCE, "exp": 4102444800}
    token = jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM)
    return {"Authorization": f"Bearer {token}"}


def _unknown_kind(settings) -> dict:
    claims = {"sub": "1", "kind": "robot", "iss": ISSUER, "aud": AUDIENCE, "exp": 4102444800}
    token = jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM)
    return {"Authorization": f"Bearer {token}"}


def _member_subject(subject: str):
    """A well-signed member token whose subject is `subject`."""

    def headers(settings) -> dict:
        claims = {"sub": subject, "kind": "member", "iss": ISSUER, "aud": AUDIENCE}
        token = jwt.encode(claims | {"exp": 4102444800}, settings.jwt_secret, algorithm=ALGORITHM)
        return {"Authorization": f"Bearer {token}"}

    return headers


def _no_such_member(settings) -> dict:
    return {"Authorization": f"Bearer {mint_member_token(settings, 987654)}"}


# credentials -> the reason a client reads to tell "refresh your token" from "sign in"
BAD_CREDENTIALS = {
    "malformed-jwt": (lambda s: {"Authorization": "Bearer not.a.jwt"}, "INVALID_TOKEN"),
    "empty-bearer": (lambda s: {"Authorization": "Bearer "}, "INVALID_TOKEN"),
    "basic-scheme": (lambda s: {"Authorization": "Basic b3BzOm9wcw=="}, "INVALID_TOKEN"),
    "forged-jwt": (_forged, "INVALID_TOKEN"),
    "expired-member-jwt": (_expired, "TOKEN_EXPIRED"),
    "expired-operator-jwt": (_expired_operator, "TOKEN_EXPIRED"),
    "unsigned-jwt": (_unsigned, "INVALID_TOKEN"),
    "wrong-issuer-jwt": (_wrong_issuer, "INVALID_TOKEN"),
    "unknown-kind-jwt": (_unknown_kind, "INVALID_TOKEN"),
    "arabic-digit-subject": (_member_subject("\u0661"), "INVALID_TOKEN"),
    "superscript-subject": (_member_subject("\u00b2"), "INVALID_TOKEN"),
    "out-of-range-subject": (_member_subject("2147483648"), "INVALID_TOKEN"),
    "nul-subject": (_member_subject("1\x00"), "INVALID_TOKEN"),
    "no-such-member": (_no_such_member, "UNKNOWN_MEMBER"),
    "garbage-api-key": (lambda s: {"X-Api-Key": "let-me-in"}, "INVALID_API_KEY"),
    "empty-api-key": (lambda s: {"X-Api-Key": ""}, "INVALID_API_KEY"),
    "unknown-api-key": (
        lambda s: {"X-Api-Key": "bmg_000000000000_secretsecretsecret"},
        "INVALID_API_KEY",
    ),
}


@pytest.mark.parametrize("kind", list(BAD_CREDENTIALS))
async def test_invalid_credentials_are_refused_not_anonymous(
    kind, world, gql, client, settings, uow_factory
):
    """Until issue 18 bad credentials were served as anonymous, so a client could not tell
    "refresh your token" from "sign in": now the whole request is refused with a reason."""
    make_headers, reason = BAD_CREDENTIALS[kind]
    headers = make_headers(settings)
    before = await recorded(uow_factory)
    for op in ("me", "member", "earnPoints", "members", "businessUnits"):
        operation = OPERATIONS[op]
        error = await refusal(client, headers, operation.document)
        assert error["extensions"]["reason"] == reason, (op, error)
    assert await recorded(uow_factory) == before
    # without any credentials the public fields still answer
    units = await gql(OPERATIONS["businessUnits"].document)
    assert len(units["data"]["businessUnits"]) == 6


async def test_revoked_or_tampered_partner_key_is_refused(
    world, gql, client, creds, uow_factory, clock
):
    hotel = await creds.partner("HOTEL")
    earn_op = OPERATIONS["earnPoints"]
    ok = await gql(earn_op.document, earn_op.variables(world, "hotel"), as_=hotel)
    assert ok["data"]["earnPoints"]["errors"] == []

    key = hotel["X-Api-Key"]
    tampered = {"X-Api-Key": key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")}
    error = await refusal(client, tampered, "{ me { id } }")
    assert error["extensions"]["reason"] == "INVALID_API_KEY"

    prefix = key.split("_")[1]
    async with uow_factory() as uow:
        await uow.session.execute(
            update(PartnerKey).where(PartnerKey.prefix == prefix).values(revoked_at=uow.now)
        )
    # the gateway remembers an authenticated key for PARTNER_KEY_CACHE_SECONDS (30 s)
    body = await gql(OPERATIONS["member"].document, {"id": str(world.member)}, as_=hotel)
    assert error_code(body) is None, body
    clock.advance(seconds=30)
    variables = earn_op.variables(world, "hotel")
    variables["input"] |= {"orderRef": "AUTH-E2", "idempotencyKey": "earn-2"}
    response = await client.post(
        "/graphql", json={"query": earn_op.document, "variables": variables}, headers=hotel
    )
    assert response.status_code == 401
    await refusal(client, hotel, OPERATIONS["member"].document)


# --- Partner scopes: each key does only what its scopes name ---------------------------------

SCOPE_TABLE = [
    # scopes, operation, outcome
    ("read", "member", D),
    ("read", "earn", F),
    ("read", "spend", F),
    ("read", "reverse-earn", F),
    ("read", "reverse-spend", F),
    ("earn", "member", F),
    ("earn", "earn", D),
    ("earn", "spend", F),
    ("earn", "reverse-earn", D),
    ("earn", "reverse-spend", F),
    ("spend", "member", F),
    ("spend", "earn", F),
    ("spend", "spend", D),
    ("spend", "reverse-earn", F),
    ("spend", "reverse-spend", D),
    ("write-off", "earn", F),
    ("write-off", "spend", F),
    ("write-off", "reverse-earn", F),
    ("earn,spend,read", "member", D),
    ("earn,spend,read", "reverse-earn", D),
    ("earn,spend,read", "reverse-spend", D),
]


@pytest.mark.parametrize(
    ("scopes", "action", "outcome"),
    [pytest.param(*row, id=f"{row[0]}-{row[1]}-{row[2]}") for row in SCOPE_TABLE],
)
async def test_partner_scopes(scopes, action, outcome, world, api, creds, uow_factory):
    key = await creds.partner("HOTEL", scopes)
    before = await recorded(uow_factory)
    if action == "member":
        body = await api.gql(OPERATIONS["member"].document, {"id": str(world.member)}, as_=key)
        root = "member"
    elif action == "earn":
        body, root = await api.earn(key, world.member), "earnPoints"
    elif action == "spend":
        body, root = await api.spend(key, world.member), "spendPoints"
    else:
        tx = world.earn_tx if action == "reverse-earn" else world.spend_tx
        body = await api.reverse(key, tx, amount="10.00" if action == "reverse-earn" else None)
        root = "reverseTransaction"
    if outcome == DATA:
        assert "errors" not in body, body
        payload = body["data"][root]
        assert payload is not None
        assert payload.get("errors", []) == []
    else:
        assert error_code(body) == outcome, body
        assert await recorded(uow_factory) == before


# --- A partner acts only for its own unit ------------------------------------------------------


@pytest.mark.parametrize("unit_ref", ["MALL", "mall", "by-id"])
async def test_partner_cannot_act_for_another_unit(unit_ref, world, api, creds, units, uow_factory):
    hotel = await creds.partner("HOTEL")
    other_unit = str(units["MALL"]) if unit_ref == "by-id" else unit_ref
    async with uow_factory() as uow:  # a MALL transaction for a member HOTEL has seen
        mall_tx = await earn(uow, world.member, "100", unit="MALL")
    before = await recorded(uow_factory)
    attempts = {
        "earnPoints": await api.earn(hotel, world.member, businessUnitId=other_unit),
        "spendPoints": await api.spend(hotel, world.member, businessUnitId=other_unit),
        "reverseTransaction": await api.reverse(hotel, mall_tx.id),
        "registerMember": await api.register(hotel, businessUnitId=other_unit),
        "previewEarn": await api.gql(
            OPERATIONS["previewEarn"].document,
            {
                "input": {
                    "memberId": str(world.member),
                    "businessUnitId": other_unit,
                    "orderRef": "P",
                    "amount": "10",
                }
            },
            as_=hotel,
        ),
    }
    for name, body in attempts.items():
        assert error_code(body) == FORBIDDEN, (name, body)
        assert (body["data"] or {}).get(name) is None
    assert await recorded(uow_factory) == before
    state = await api.state(world.member)
    assert state["transactions"][0]["id"] == str(mall_tx.id)


async def test_partner_sees_members_registered_at_its_unit_only(world, api, creds):
    mall = await creds.partner("MALL")
    member_doc = OPERATIONS["member"].document
    seen = await api.gql(member_doc, {"id": str(world.other)}, as_=mall)
    assert seen["data"]["member"]["id"] == str(world.other)
    unseen = await api.gql(member_doc, {"id": str(world.member)}, as_=mall)
    assert error_code(unseen) == FORBIDDEN
    # Registering someone at MALL links that member to MALL only, not to HOTEL.
    reg = await api.register(mall, phone="13722223333", businessUnitId="MALL")
    new_id = reg["data"]["registerMember"]["member"]["id"]
    assert (await api.gql(member_doc, {"id": new_id}, as_=mall))["data"]["member"]["id"] == new_id
    hotel = world.headers["hotel"]
    assert error_code(await api.gql(member_doc, {"id": new_id}, as_=hotel)) == FORBIDDEN
    assert error_code(await api.earn(hotel, new_id)) == FORBIDDEN


async def test_operator_token_without_a_known_role_has_no_rights(world, gql, settings):
    claims = {
        "sub": "x",
        "kind": "operator",
        "roles": ["admin"],
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": 4102444800,
    }
    headers = {"Authorization": f"Bearer {jwt.encode(claims, settings.jwt_secret, ALGORITHM)}"}
    for op in ("member", "members", "earnPoints"):
        operation = OPERATIONS[op]
        body = await gql(operation.document, operation.variables(world, "ops"), as_=headers)
        assert error_code(body) == FORBIDDEN, (op, body)
