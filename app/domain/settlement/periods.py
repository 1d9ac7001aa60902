"""Settlement periods: a calendar month `YYYY-MM` in the group's time zone.

A period runs from midnight opening its first day to midnight opening the next month's, local
time; it is over once that second midnight has passed. Anything else given as a period is
INVALID_INPUT (field `period`), never an error of the server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from app.domain.shared.errors import DomainError, ErrorCode

_PATTERN = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, order=True)
class Period:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Period:
        """`YYYY-MM` (month 01-12, year 2000-2999), or INVALID_INPUT."""
        match = _PATTERN.match(str(text).strip())
        if match is None:
            raise DomainError(ErrorCode.INVALID_INPUT, "a period is YYYY-MM", "period")
        year, month = int(match[1]), int(match[2])
        if not 1 <= month <= 12 or not 2000 <= year <= 2999:
            raise DomainError(ErrorCode.INVALID_INPUT, f"no period {text!r}", "period")
        return cls(year, month)

    @classmethod
    def of(cls, at: datetime, tz: ZoneInfo) -> Period:
        local = at.astimezone(tz)
        return cls(local.year, local.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def next(self) -> Period:
        return Period(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Period:
        return Period(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def start(self, tz: ZoneInfo) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=tz)

    def end(self, tz: ZoneInfo) -> datetime:
        return self.next().start(tz)

    def is_over(self, now: datetime, tz: ZoneInfo) -> bool:
        return now >= self.end(tz)
