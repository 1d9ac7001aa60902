"""The figures' summary tables (app.domain.figures.summary): `jobs refresh-figures` rebuilds
the days and months since the last refresh, `jobs rebuild-figures` all of them. Both are safe
to run twice or at once; run refresh-figures every few minutes (docs/figures.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.domain.figures.summary import Refresh, refresh_figures
from app.platform.uow import unit_of_work
from app.settings import Settings


async def refresh(
    sessions: async_sessionmaker, *, settings: Settings, now: datetime, full: bool = False
) -> Refresh:
    """One refresh in one transaction: readers see the old tables or the new, never half."""
    async with unit_of_work(sessions, now=now, tz=settings.tz) as uow:
        return await refresh_figures(uow, full=full)
