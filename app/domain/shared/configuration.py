"""The configuration every earn and spend reads (business units, the programme and its tiers,
campaign definitions), kept in memory per worker and database, and checked once per unit of
work against the `config_version` row.

Triggers (migration 0008) move that row in the same transaction as any change to those tables,
whatever writes it (the API, the CLI, a seed, SQL by hand), and its version never repeats. A
unit of work reads the row with its first need of configuration; the same (generation, version)
as the one kept means that nothing changed since it was read, so the kept values are used; any
other answer reads everything again in this transaction (three statements, as before the
cache). The row is read before the configuration is, so what is kept is never older than its
version says.

Within one unit of work the configuration is read once, and again after the unit's session
writes anything that may change it (an ORM statement other than a SELECT, or a flush of
configuration rows), so a transaction that changes configuration sees its change.

What comes out is shared by every request of the worker: values in no session, never to be
changed or added to a session (copy one first).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from app.models import BusinessUnit, Campaign, Program, Tier
from app.platform.driver import columns, entity
from app.platform.uow import UnitOfWork

VERSION_SQL = "SELECT generation, version FROM config_version WHERE id = 1"
_UNITS = f"SELECT {columns(BusinessUnit)} FROM business_units ORDER BY id"
# The programme row (NULLs when there is none) beside each tier (one row of NULLs when none).
_LADDER = f"""SELECT {columns(Program, "p")}, {columns(Tier, "t")}
FROM (VALUES (1)) AS programme (id)
LEFT JOIN program p ON p.id = programme.id
LEFT JOIN tiers t ON true
ORDER BY t.rank"""
# Campaigns that may still run at or after $1: not ended, and not past their end.
_CAMPAIGNS = f"""SELECT {columns(Campaign)} FROM campaigns
WHERE ended_at IS NULL AND (ends_at IS NULL OR ends_at > $1)
ORDER BY id"""


@dataclass(frozen=True)
class Configuration:
    """What the hot paths read of the configuration, as of one version."""

    stamp: tuple[str, int] | None  # (generation, version); None: no version row to check
    read_at: datetime  # campaigns past their end at this instant were left out
    units: dict[int, BusinessUnit]
    unit_codes: dict[str, BusinessUnit]
    tiers: list[Tier]  # lowest rank first; empty when none are configured
    program: Program | None  # None when none is configured
    campaigns: list[Campaign]  # not ended at `read_at`, by id

    def covers(self, stamp: tuple[str, int] | None, now: datetime) -> bool:
        """Whether these values are current for a unit of work that read `stamp` at `now`
        (campaigns were chosen for `read_at` onwards, so an earlier instant reads again)."""
        return stamp is not None and stamp == self.stamp and now >= self.read_at

    def running_campaigns(self, now: datetime, unit_id: int) -> list[Campaign]:
        """Campaigns running at `now` that are open to the unit (no units listed: every unit)."""
        return [
            c
            for c in self.campaigns
            if c.starts_at <= now
            and (c.ends_at is None or c.ends_at > now)
            and (not c.unit_ids or unit_id in c.unit_ids)
        ]


# Per database (its engine): the configuration last read there.
_kept: weakref.WeakKeyDictionary[Any, Configuration] = weakref.WeakKeyDictionary()
# In a session's `info`: how many writes it made that may change configuration; in the unit of
# work's memo: the configuration it read with that many made.
_WRITES = "configuration_writes"
_READ = "configuration"
_MODELS = (BusinessUnit, Program, Tier, Campaign)


@event.listens_for(Session, "do_orm_execute")
def _statement_sent(state: ORMExecuteState) -> None:
    if not state.is_select:
        state.session.info[_WRITES] = state.session.info.get(_WRITES, 0) + 1


@event.listens_for(Session, "before_flush")
def _flushing(session: Session, context: Any, instances: Any) -> None:
    if any(isinstance(row, _MODELS) for row in chain(session.new, session.dirty, session.deleted)):
        session.info[_WRITES] = session.info.get(_WRITES, 0) + 1


async def configuration(uow: UnitOfWork) -> Configuration:
    """The configuration as this unit of work's transaction sees it: one statement when the
    worker's copy is current, four when it is not (then kept for the next ones)."""
    read = uow.memo.get(_READ)
    if read is not None and read[0] == _writes(uow):
        return read[1]
    driver = await uow.driver()
    row = await driver.fetchrow(VERSION_SQL)
    stamp = (row["generation"], row["version"]) if row is not None else None
    engine = uow.engine
    kept = _kept.get(engine)
    if kept is None or not kept.covers(stamp, uow.now):
        kept = await _read(uow, stamp)
        if stamp is not None:
            _kept[engine] = kept
    uow.memo[_READ] = (_writes(uow), kept)  # a flush by uow.driver() may have counted
    return kept


def kept_stamp(engine: Any) -> tuple[str, int] | None:
    """The (generation, version) of the configuration this worker last read from `engine`'s
    database (None: none read yet), without asking the database: what a request of this worker
    saw most recently. Caches of things a configuration change may retract (the partner keys,
    whose revocation moves the version too) compare it with the one they were filled under."""
    kept = _kept.get(engine)
    return kept.stamp if kept is not None else None


def _writes(uow: UnitOfWork) -> int:
    session = uow.session_if_made()  # no session: no ORM writes (and none is made)
    return session.info.get(_WRITES, 0) if session is not None else 0


async def _read(uow: UnitOfWork, stamp: tuple[str, int] | None) -> Configuration:
    driver = await uow.driver()
    units = [entity(BusinessUnit, row) for row in await driver.fetch(_UNITS)]
    ladder = await driver.fetch(_LADDER)
    campaigns = [entity(Campaign, row) for row in await driver.fetch(_CAMPAIGNS, uow.now)]
    policies = ladder[0]  # the same programme columns on every row
    return Configuration(
        stamp=stamp,
        read_at=uow.now,
        units={unit.id: unit for unit in units},  # type: ignore[misc]
        unit_codes={unit.code: unit for unit in units},
        tiers=[entity(Tier, row) for row in ladder if row["code"] is not None],
        program=entity(Program, policies) if policies["id"] is not None else None,
        campaigns=campaigns,
    )
