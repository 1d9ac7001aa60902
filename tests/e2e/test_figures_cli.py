"""`python -m app jobs refresh-figures` / `rebuild-figures` fill the figures' summary tables
(in full the first time, then from where they left off) and `verify-ledger` checks them."""

from __future__ import annotations

from sqlalchemy import text

from tests.e2e.test_cli_and_server import run_cli
from tests.helpers import earn, new_member


async def test_refresh_rebuild_and_verify_from_the_command_line(units, database_url, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        await earn(uow, member, "100", "HOTEL")
    at = "2026-06-15T12:30:00+08:00"
    first = run_cli(database_url, "jobs", "refresh-figures", "--now", at).stdout.strip()
    assert first == (
        "refresh-figures: in full through 2026-06-15T12:30:00+08:00, 1 unit days, 1 member months"
    )
    again = run_cli(database_url, "jobs", "refresh-figures", "--now", at).stdout.strip()
    assert again.startswith("refresh-figures: from 2026-06-15 ")
    rebuilt = run_cli(database_url, "jobs", "rebuild-figures", "--now", at).stdout.strip()
    assert rebuilt.startswith("rebuild-figures: in full")
    assert run_cli(database_url, "verify-ledger").returncode == 0
    async with uow_factory() as uow:
        await uow.session.execute(text("UPDATE figure_unit_days SET issued_points = 1"))
    drift = run_cli(database_url, "verify-ledger", check=False)
    assert drift.returncode == 1 and "figure_unit_days" in drift.stdout
