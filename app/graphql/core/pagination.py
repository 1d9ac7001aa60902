"""Keyset cursors: opaque base64 of a kind and the last id seen; `first` capped at 100."""

from __future__ import annotations

import base64

import strawberry

from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.ids import parse_id

MAX_FIRST = 100
DEFAULT_FIRST = 20


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


def encode_cursor(kind: str, last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{last_id}".encode()).decode()


def decode_cursor(kind: str, cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        prefix, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        last_id = parse_id(value, big=True) if prefix == kind else None
        if last_id is not None and value == str(last_id):
            return last_id
    except (ValueError, UnicodeDecodeError):
        pass
    raise DomainError(ErrorCode.INVALID_INPUT, "malformed cursor", "after")


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_FIRST
    if first < 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "first must not be negative", "first")
    return min(first, MAX_FIRST)
