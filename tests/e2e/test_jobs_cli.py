"""The rights', warnings' and webhooks' jobs from the command line, each run twice: the second
run finds nothing left to do."""

from __future__ import annotations

from datetime import timedelta

from app.domain.rights.catalogue import RightSpec, create_right
from app.domain.rights.tier_grants import set_tier_right
from app.domain.tiers.standing import grant_tier
from tests.conftest import NOW
from tests.e2e.test_cli_and_server import run_cli
from tests.helpers import earn, new_member


def twice(database_url: str, *args: str) -> tuple[str, str]:
    first = run_cli(database_url, "jobs", *args).stdout.strip()
    again = run_cli(database_url, "jobs", *args).stdout.strip()
    return first, again


async def test_the_rights_jobs_grant_and_expire_once(units, database_url, uow_factory):
    async with uow_factory() as uow:
        parking = await create_right(
            uow, spec=RightSpec("MALL", "Parking", "PARKING_HOURS", 60), actor="ops:test"
        )
        await set_tier_right(
            uow, tier_code="GOLD", right_id=parking.id, quantity=2, period="MONTH", actor="ops"
        )
        member = await new_member(uow, "HOTEL")
        await grant_tier(
            uow, member_id=member, tier="GOLD", until=NOW + timedelta(days=300), reason="t",
            actor="ops",
        )  # fmt: skip
    now = NOW.isoformat()
    assert twice(database_url, "grant-tier-rights", "--now", now) == (
        "grant-tier-rights: 1 members, 2 vouchers",
        "grant-tier-rights: 0 members, 0 vouchers",
    )
    later = (NOW + timedelta(days=20)).isoformat()  # July in Shanghai: June's have ended
    assert twice(database_url, "expire-rights", "--now", later) == (
        "expire-rights: 2 vouchers expired",
        "expire-rights: 0 vouchers expired",
    )


async def test_the_warning_and_dispatch_jobs_run_twice(units, database_url, uow_factory):
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
        await earn(uow, member, "100.00", unit="HOTEL")
    soon = (NOW + timedelta(days=340)).isoformat()  # the points expire within 30 days then
    first, again = twice(database_url, "warn-expiring-points", "--now", soon)
    assert (first, again) == (
        "warn-expiring-points: 1 warnings",
        "warn-expiring-points: 0 warnings",
    )
    first, again = twice(database_url, "dispatch-webhooks", "--now", soon)
    # no endpoint subscribes: the events are taken once, nothing is sent
    assert first.startswith("dispatch-webhooks: ") and first.endswith("0 attempts, 0 delivered")
    assert again == "dispatch-webhooks: 0 events taken, 0 attempts, 0 delivered"
    assert first != again
