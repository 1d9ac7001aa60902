"""Who the members are across formats, from the member months (app.domain.figures.summary).

- `format_overlap`: for each pair of units (every pair, zero included), the members with at
  least one transaction at both in the period: how far the one membership carries members
  from one format to another.
- `member_segments`: RFM over the 12 months ending with the period, across all formats, for
  the members with at least one visit then. Recency is the last visit, frequency the visits,
  monetary the spend. Each is scored 1-5 by quintile: ceil(5 x the member's cumulative share
  when members are ordered from worst to best), so equal values share a score. With R the
  recency score and FM the mean of the frequency and monetary scores, the first that holds:
  CHAMPIONS R >= 4 and FM >= 4; LOYAL R >= 3 and FM >= 3; PROMISING R >= 4;
  NEEDS_ATTENTION R = 3; AT_RISK FM >= 3; HIBERNATING otherwise. Shares are to 4 places,
  rounded by largest remainder so that they sum to exactly 1 (all 0 with no members).

Both are computed from the member months, and kept by the refresh (`snapshot_month`,
`snapshot_year`): a month's overlap, a year's overlap and the segments of the 12 months ending
with a month are read from `figure_month_overlap` / `figure_year_overlap` /
`figure_month_segments` when the refresh has kept them, computed otherwise (a period the
tables have not reached).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from itertools import combinations

from app.domain.figures.periods import Period, months_back, parse_period
from app.platform.uow import UnitOfWork

_UNITS = "SELECT id FROM business_units ORDER BY id"
# Each member's set of units active in the window, counted by set: at most 2^units - 1 sets
# (the pairs follow in Python), one pass over the member months where a self-join of members
# by unit took seconds at 1,000,000 members.
_OVERLAP = """WITH sets AS (
    SELECT array_agg(DISTINCT business_unit_id ORDER BY business_unit_id) AS units
    FROM figure_member_months
    WHERE month >= $1 AND month < $2
    GROUP BY member_id HAVING count(DISTINCT business_unit_id) > 1
)
SELECT units, count(*) AS members FROM sets GROUP BY units"""

_SCORES = """WITH m AS (
    SELECT member_id, max(last_visit_at) AS last_visit, sum(visits) AS frequency,
           sum(spend) AS monetary
    FROM figure_member_months WHERE month >= $1 AND month < $2
    GROUP BY member_id HAVING sum(visits) > 0
), s AS (
    SELECT ceil(5 * cume_dist() OVER (ORDER BY last_visit))::int AS r,
           ceil(5 * cume_dist() OVER (ORDER BY frequency))::int AS f,
           ceil(5 * cume_dist() OVER (ORDER BY monetary))::int AS m
    FROM m
)
SELECT r, f, m, count(*) AS members FROM s GROUP BY 1, 2, 3"""


class Segment(StrEnum):
    CHAMPIONS = "CHAMPIONS"
    LOYAL = "LOYAL"
    PROMISING = "PROMISING"
    NEEDS_ATTENTION = "NEEDS_ATTENTION"
    AT_RISK = "AT_RISK"
    HIBERNATING = "HIBERNATING"


def segment_of(r: int, f: int, m: int) -> Segment:
    """The segment of recency, frequency and monetary scores 1-5 (module docstring)."""
    fm = Decimal(f + m) / 2
    if r >= 4 and fm >= 4:
        return Segment.CHAMPIONS
    if r >= 3 and fm >= 3:
        return Segment.LOYAL
    if r >= 4:
        return Segment.PROMISING
    if r == 3:
        return Segment.NEEDS_ATTENTION
    if fm >= 3:
        return Segment.AT_RISK
    return Segment.HIBERNATING


SHARE_PLACES = 4


def shares(counts: list[int]) -> list[Decimal]:
    """Each count's share of the total to 4 places, by largest remainder: they sum to 1."""
    total = sum(counts)
    if total == 0:
        return [Decimal(0) for _ in counts]
    unit = 10**SHARE_PLACES
    exact = [count * unit for count in counts]
    floors = [value // total for value in exact]
    left = unit - sum(floors)
    order = sorted(range(len(counts)), key=lambda i: (-(exact[i] % total), i))
    for i in order[:left]:
        floors[i] += 1
    return [Decimal(value).scaleb(-SHARE_PLACES) for value in floors]


@dataclass(frozen=True)
class OverlapCell:
    unit_a: int
    unit_b: int
    members: int


@dataclass(frozen=True)
class SegmentCount:
    segment: Segment
    members: int
    share: Decimal


async def _live_overlap(uow: UnitOfWork, start: date, end: date) -> dict[tuple[int, int], int]:
    """(lower unit id, higher) -> members active at both in [start, end); pairs with some."""
    found: dict[tuple[int, int], int] = {}
    for row in await (await uow.driver()).fetch(_OVERLAP, start, end):
        for pair in combinations(row["units"], 2):  # ordered as the array: lower id first
            found[pair] = found.get(pair, 0) + int(row["members"])
    return found


def _is_year(period: Period) -> bool:
    return period.start == date(period.start.year, 1, 1) and period.end == date(
        period.start.year + 1, 1, 1
    )


async def _live_segments(uow: UnitOfWork, window_end: date) -> dict[Segment, int]:
    rows = await (await uow.driver()).fetch(_SCORES, months_back(window_end, 12), window_end)
    counts = dict.fromkeys(Segment, 0)
    for row in rows:
        counts[segment_of(row["r"], row["f"], row["m"])] += int(row["members"])
    return counts


async def format_overlap(uow: UnitOfWork, period: Period, unit_ids: list[int]) -> list[OverlapCell]:
    """Every pair of `unit_ids` (lower id first), with the members active at both."""
    found: dict[tuple[int, int], int] = {}
    rows = []
    driver = await uow.driver()
    if months_back(period.end, 1) == period.start:  # one month: kept by the refresh?
        rows = await driver.fetch(
            "SELECT unit_a, unit_b, members FROM figure_month_overlap WHERE month = $1",
            period.start,
        )
    elif _is_year(period):  # a year: kept by the refresh too?
        rows = await driver.fetch(
            "SELECT unit_a, unit_b, members FROM figure_year_overlap WHERE year = $1",
            period.start.year,
        )
    found = {(row["unit_a"], row["unit_b"]): int(row["members"]) for row in rows}
    if not found:
        found = await _live_overlap(uow, period.start, period.end)
    ids = sorted(unit_ids)
    return [
        OverlapCell(a, b, found.get((a, b), 0)) for i, a in enumerate(ids) for b in ids[i + 1 :]
    ]


async def member_segments(uow: UnitOfWork, period: Period) -> list[SegmentCount]:
    """Every segment, in the order of `Segment`, with its members and share."""
    rows = await (await uow.driver()).fetch(
        "SELECT segment, members FROM figure_month_segments WHERE month = $1",
        months_back(period.end, 1),
    )
    if rows:
        counts = dict.fromkeys(Segment, 0)
        counts.update({Segment(row["segment"]): int(row["members"]) for row in rows})
    else:
        counts = await _live_segments(uow, period.end)
    parts = shares(list(counts.values()))
    return [
        SegmentCount(segment, count, share)
        for (segment, count), share in zip(counts.items(), parts, strict=True)
    ]


def _next_month(month: date) -> date:
    return months_back(month, -1)


async def snapshot_month(uow: UnitOfWork, month: date) -> None:
    """Keep `month`'s overlap (every pair of units) and the segments of the 12 months ending
    with it, computed from the member months as they are now."""
    driver = await uow.driver()
    after = _next_month(month)
    units = [row["id"] for row in await driver.fetch(_UNITS)]
    overlap = await _live_overlap(uow, month, after)
    pairs = [(a, b) for i, a in enumerate(units) for b in units[i + 1 :]]
    segments = await _live_segments(uow, after)
    await driver.execute("DELETE FROM figure_month_overlap WHERE month = $1", month)
    await driver.execute("DELETE FROM figure_month_segments WHERE month = $1", month)
    await driver.executemany(
        "INSERT INTO figure_month_overlap (month, unit_a, unit_b, members) VALUES ($1, $2, $3, $4)",
        [(month, a, b, overlap.get((a, b), 0)) for a, b in pairs],
    )
    await driver.executemany(
        "INSERT INTO figure_month_segments (month, segment, members) VALUES ($1, $2, $3)",
        [(month, segment.value, count) for segment, count in segments.items()],
    )


async def snapshot_year(uow: UnitOfWork, year: int) -> None:
    """Keep `year`'s overlap (every pair of units), computed from the member months now."""
    driver = await uow.driver()
    units = [row["id"] for row in await driver.fetch(_UNITS)]
    overlap = await _live_overlap(uow, date(year, 1, 1), date(year + 1, 1, 1))
    await driver.execute("DELETE FROM figure_year_overlap WHERE year = $1", year)
    await driver.executemany(
        "INSERT INTO figure_year_overlap (year, unit_a, unit_b, members) VALUES ($1, $2, $3, $4)",
        [(year, a, b, overlap.get((a, b), 0)) for i, a in enumerate(units) for b in units[i + 1 :]],
    )


_ACTIVE = """SELECT coalesce(business_unit_id, 0) AS unit, count(DISTINCT member_id) AS members
FROM figure_member_months WHERE month >= $1 AND month < $2
GROUP BY GROUPING SETS ((business_unit_id), ())"""


async def live_active(uow: UnitOfWork, period: Period) -> dict[int, int]:
    """Active members of `period` per unit id, and in all under 0 (module programme)."""
    rows = await (await uow.driver()).fetch(_ACTIVE, period.start, period.end)
    return {row["unit"]: int(row["members"]) for row in rows}


async def active_members(uow: UnitOfWork, period: Period, unit_id: int | None) -> int:
    """As kept by the refresh for the period, or computed when it has not kept it."""
    driver = await uow.driver()
    kept = await driver.fetch(
        "SELECT business_unit_id, members FROM figure_period_active WHERE period = $1",
        period.label,
    )
    found = {row["business_unit_id"]: row["members"] for row in kept} or await live_active(
        uow, period
    )
    return int(found.get(unit_id or 0, 0))


async def snapshot_active(uow: UnitOfWork, period: Period) -> None:
    """Keep the period's active members per unit and in all."""
    driver = await uow.driver()
    found = await live_active(uow, period)
    found.setdefault(0, 0)
    await driver.execute("DELETE FROM figure_period_active WHERE period = $1", period.label)
    await driver.executemany(
        "INSERT INTO figure_period_active (period, business_unit_id, members) VALUES ($1, $2, $3)",
        [(period.label, unit, members) for unit, members in sorted(found.items())],
    )


async def verify_snapshots(uow: UnitOfWork) -> list[str]:
    """Months whose kept overlap or segments differ from a computation now."""
    driver = await uow.driver()
    problems = []
    for row in await driver.fetch("SELECT DISTINCT month FROM figure_month_segments ORDER BY 1"):
        month = row["month"]
        kept = await driver.fetch(
            "SELECT segment, members FROM figure_month_segments WHERE month = $1", month
        )
        live = await _live_segments(uow, _next_month(month))
        if {Segment(r["segment"]): r["members"] for r in kept} != live:
            problems.append(f"figure_month_segments: {month} differs from the member months")
    for row in await driver.fetch("SELECT DISTINCT month FROM figure_month_overlap ORDER BY 1"):
        month = row["month"]
        kept = await driver.fetch(
            "SELECT unit_a, unit_b, members FROM figure_month_overlap"
            " WHERE month = $1 AND members > 0",
            month,
        )
        overlap = await _live_overlap(uow, month, _next_month(month))
        if {(r["unit_a"], r["unit_b"]): r["members"] for r in kept} != overlap:
            problems.append(f"figure_month_overlap: {month} differs from the member months")
    for row in await driver.fetch("SELECT DISTINCT year FROM figure_year_overlap ORDER BY 1"):
        year = row["year"]
        kept = await driver.fetch(
            "SELECT unit_a, unit_b, members FROM figure_year_overlap"
            " WHERE year = $1 AND members > 0",
            year,
        )
        overlap = await _live_overlap(uow, date(year, 1, 1), date(year + 1, 1, 1))
        if {(r["unit_a"], r["unit_b"]): r["members"] for r in kept} != overlap:
            problems.append(f"figure_year_overlap: {year} differs from the member months")
    for row in await driver.fetch("SELECT DISTINCT period FROM figure_period_active ORDER BY 1"):
        period = parse_period(row["period"])
        kept = await driver.fetch(
            "SELECT business_unit_id, members FROM figure_period_active"
            " WHERE period = $1 AND (members > 0 OR business_unit_id = 0)",
            period.label,
        )
        active = await live_active(uow, period)
        active.setdefault(0, 0)
        if {r["business_unit_id"]: r["members"] for r in kept} != active:
            problems.append(f"figure_period_active: {period.label} differs from the member months")
    return problems
