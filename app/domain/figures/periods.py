"""A figures period: a calendar month ("2026-11") or year ("2026") in the group's time zone.

Its days are [start, end) as local dates; `starts_at` / `ends_at` are the instants those
local midnights fall on. Anything else is INVALID_INPUT on the field `period`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from app.domain.shared.errors import DomainError, ErrorCode

_FORM = re.compile(r"^(\d{4})(?:-(\d{2}))?$")


@dataclass(frozen=True)
class Period:
    label: str
    start: date  # first local day
    end: date  # first local day after

    def starts_at(self, tz: ZoneInfo) -> datetime:
        return datetime.combine(self.start, time(), tz)

    def ends_at(self, tz: ZoneInfo) -> datetime:
        return datetime.combine(self.end, time(), tz)


def parse_period(text: str, field: str = "period") -> Period:
    """ "YYYY-MM" (a month) or "YYYY" (a year), years 2000-2100."""
    found = _FORM.match(text.strip())
    year = int(found.group(1)) if found else 0
    month = int(found.group(2)) if found and found.group(2) else None
    if not found or not 2000 <= year <= 2100 or (month is not None and not 1 <= month <= 12):
        raise DomainError(ErrorCode.INVALID_INPUT, f"period {text!r} is not YYYY-MM or YYYY", field)
    if month is None:
        return Period(f"{year:04d}", date(year, 1, 1), date(year + 1, 1, 1))
    after = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return Period(f"{year:04d}-{month:02d}", date(year, month, 1), after)


def months_back(day: date, months: int) -> date:
    """The first of the month `months` before `day`'s month."""
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)
