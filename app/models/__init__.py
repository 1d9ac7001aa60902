"""SQLModel tables, one module per aggregate. Alembic reads `SQLModel.metadata` from here."""

from sqlmodel import SQLModel

from app.models.abuse import AbuseFlag
from app.models.access import PartnerKey
from app.models.activities import ActivityEvent, ActivityRule
from app.models.campaigns import Campaign, CampaignMemberUsage
from app.models.figures import (
    FigureMemberMonth,
    FigureMonthOverlap,
    FigureMonthSegment,
    FigurePeriodActive,
    FigureRefresh,
    FigureUnitDay,
    FigureYearOverlap,
)
from app.models.formats import (
    ConvenienceOrder,
    HotelStay,
    MallReceipt,
    ParkingSession,
    PropertyBill,
)
from app.models.ledger import (
    IdempotencyKey,
    LotAllocation,
    MemberBalance,
    PointsLot,
    PointsTransaction,
    Posting,
)
from app.models.mall import Lottery, LotteryDraw, LotteryOdds, LotteryPrize, MallItem, MallOrder
from app.models.members import Member, MemberUnitLink
from app.models.operations import OperatorAction
from app.models.org import BusinessUnit, CategoryRate, ConfigVersion, Merchant, Program
from app.models.outbox import OutboxEvent
from app.models.rights import Right
from app.models.settlement import (
    PointBlock,
    PointBlockDraw,
    SettlementPeriod,
    SettlementTerms,
    SettlementUnitTerms,
    UnitFundingModel,
)
from app.models.sign_in import MemberSession, RefreshToken, WeChatIdentity
from app.models.tiers import MemberTier, Tier, TierHistory
from app.models.wallet import MemberRight, TierRight, TierRightGrant, VoucherWriteOff
from app.models.webhooks import (
    MemberWarning,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookMemberSequence,
    WebhookMessage,
)

metadata = SQLModel.metadata

__all__ = [
    "AbuseFlag",
    "ActivityEvent",
    "ActivityRule",
    "BusinessUnit",
    "Campaign",
    "CampaignMemberUsage",
    "CategoryRate",
    "ConfigVersion",
    "ConvenienceOrder",
    "FigureMemberMonth",
    "FigureMonthOverlap",
    "FigureMonthSegment",
    "FigurePeriodActive",
    "FigureRefresh",
    "FigureUnitDay",
    "FigureYearOverlap",
    "HotelStay",
    "IdempotencyKey",
    "LotAllocation",
    "Lottery",
    "LotteryDraw",
    "LotteryOdds",
    "LotteryPrize",
    "MallItem",
    "MallOrder",
    "MallReceipt",
    "Member",
    "MemberBalance",
    "MemberRight",
    "MemberSession",
    "MemberTier",
    "MemberUnitLink",
    "MemberWarning",
    "Merchant",
    "OperatorAction",
    "OutboxEvent",
    "ParkingSession",
    "PartnerKey",
    "PointBlock",
    "PointBlockDraw",
    "PointsLot",
    "PointsTransaction",
    "Posting",
    "Program",
    "PropertyBill",
    "RefreshToken",
    "Right",
    "SettlementPeriod",
    "SettlementTerms",
    "SettlementUnitTerms",
    "Tier",
    "TierHistory",
    "TierRight",
    "TierRightGrant",
    "UnitFundingModel",
    "VoucherWriteOff",
    "WeChatIdentity",
    "WebhookAttempt",
    "WebhookEndpoint",
    "WebhookMemberSequence",
    "WebhookMessage",
    "metadata",
]
