"""`python -m app grant-birthday-gifts`: today's gifts once, whatever the number of runs."""

from __future__ import annotations

from datetime import date

from app.domain.engagement.rule_book import seed_activity_rules
from tests.e2e.test_cli_and_server import run_cli
from tests.helpers import assert_clean, new_member, points_of


async def test_birthday_gifts_from_the_command_line(units, database_url, uow_factory):
    async with uow_factory() as uow:
        await seed_activity_rules(uow)
        member = await new_member(uow, birthday=date(1990, 6, 16))
    at = "2026-06-16T00:05:00+08:00"  # still June 15 in UTC
    first = run_cli(database_url, "grant-birthday-gifts", "--now", at).stdout
    again = run_cli(database_url, "grant-birthday-gifts", "--now", at).stdout
    assert first.strip() == "grant-birthday-gifts: 1 members, 188 points"
    assert again.strip() == "grant-birthday-gifts: 0 members, 0 points"
    assert await points_of(uow_factory, member) == (100 + 188, 0, 0)
    await assert_clean(uow_factory)
