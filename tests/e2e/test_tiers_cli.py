"""`python -m app evaluate-tiers [--now ISO]`: the tier job from the command line, run twice."""

from __future__ import annotations

from datetime import timedelta

from app.models import MemberTier
from tests.conftest import NOW
from tests.e2e.test_cli_and_server import run_cli
from tests.helpers import earn, new_member


async def test_evaluate_tiers_runs_twice_and_takes_now(units, database_url, uow_factory):
    async with uow_factory() as uow:
        gold = await new_member(uow)
        await earn(uow, gold, "20000", unit="OFFICE")
        silver = await new_member(uow)
        await earn(uow, silver, "5000", unit="OFFICE")
    early = (NOW + timedelta(days=300)).isoformat()
    assert run_cli(database_url, "evaluate-tiers", "--now", early).stdout.strip() == (
        "evaluate-tiers: 0 members, 0 changes"
    )
    later = (NOW + timedelta(days=400)).isoformat()
    first = run_cli(database_url, "evaluate-tiers", "--now", later).stdout.strip()
    again = run_cli(database_url, "evaluate-tiers", "--now", later).stdout.strip()
    assert first == "evaluate-tiers: 2 members, 2 changes (2 changed)"
    assert again == "evaluate-tiers: 0 members, 0 changes"
    async with uow_factory() as uow:
        assert (await uow.session.get(MemberTier, gold)).tier_code == "SILVER"
        assert (await uow.session.get(MemberTier, silver)).tier_code == "NORMAL"
    naive = run_cli(database_url, "evaluate-tiers", "--now", "2027-01-01T00:00:00", check=False)
    assert naive.returncode != 0
