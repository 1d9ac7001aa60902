"""`python -m app jobs close-settlement [--period YYYY-MM] [--now ISO]`: closing from the
command line, twice, and refusing a period that is malformed or not over."""

from __future__ import annotations

from app.models import SettlementPeriod
from tests.e2e.test_cli_and_server import run_cli
from tests.helpers import earn, new_member, spend


async def test_close_settlement_closes_once_and_refuses_what_cannot_close(
    units, database_url, uow_factory
):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        await earn(uow, member, "2500", unit="HOTEL")
        await spend(uow, member, 1000, "100000", unit="OFFICE")
    july = "2026-07-02T09:00:00+08:00"
    first = run_cli(database_url, "jobs", "close-settlement", "--now", july).stdout.strip()
    assert first == (
        "close-settlement: 2026-06 closed at 2026-07-02T01:00:00Z, 1 lines, 0 adjustments,"
        " 10.00 CNY cleared"
    )
    again = run_cli(database_url, "jobs", "close-settlement", "--period", "2026-06", "--now", july)
    assert again.stdout.strip() == first
    async with uow_factory() as uow:
        stored = await uow.session.get(SettlementPeriod, "2026-06")
        assert stored is not None and stored.closed_by == "job:close-settlement"
    for period in ("2026-07", "2026-13", "abc"):
        refused = run_cli(
            database_url, "jobs", "close-settlement", "--period", period, "--now", july, check=False
        )
        assert refused.returncode == 2 and "INVALID_INPUT" in refused.stderr
