"""Errors a caller can act on: a code from one enum, a message, and the input field at fault."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID_INPUT = "INVALID_INPUT"
    NOT_FOUND = "NOT_FOUND"
    INSUFFICIENT_POINTS = "INSUFFICIENT_POINTS"
    LIMIT_REACHED = "LIMIT_REACHED"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    VOUCHER_USED = "VOUCHER_USED"
    VOUCHER_EXPIRED = "VOUCHER_EXPIRED"
    VOUCHER_REVOKED = "VOUCHER_REVOKED"
    NOT_ON_SALE = "NOT_ON_SALE"  # not for sale, or outside its sale window
    TIER_REQUIRED = "TIER_REQUIRED"  # the member's tier may not have it
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    DUPLICATE = "DUPLICATE"
    ALREADY_REVERSED = "ALREADY_REVERSED"
    CODE_EXPIRED = "CODE_EXPIRED"
    UNAVAILABLE = "UNAVAILABLE"  # a check the rule needs cannot run now; retry shortly
    THROTTLED = "THROTTLED"  # too many attempts of this kind from this caller; retry later
    NOT_REFUNDABLE = "NOT_REFUNDABLE"  # this right cannot be returned
    UNDO_WINDOW_PASSED = "UNDO_WINDOW_PASSED"  # a write-off is undone only within its window
    INVALID_CODE = "INVALID_CODE"  # WeChat refused a login or phone code (forged or used)
    PHONE_REQUIRED = "PHONE_REQUIRED"  # a first sign-in must share a phone number
    PHONE_BOUND = "PHONE_BOUND"  # the phone's member is bound to another WeChat account
    INVALID_TOKEN = "INVALID_TOKEN"  # a refresh token unknown, used, expired or signed out
    FUNDING_EXHAUSTED = "FUNDING_EXHAUSTED"  # a pre-paid unit's point blocks are used up
    WRONG_STATE = "WRONG_STATE"  # a mall order cannot do this in its current status
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"  # a payment's amount is not the order's cash due


class DomainError(Exception):
    """A rule refused the request; nothing was recorded."""

    def __init__(self, code: ErrorCode, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class PermissionDenied(Exception):
    """The caller may not do this (maps to FORBIDDEN at the edge)."""
