"""Migrations: an empty database upgrades to head, matches the models, and downgrades to base."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from app.demo.organisation import seed_organisation
from app.domain.ledger.audit import verify_ledger
from app.models import metadata
from app.platform import migrate
from app.platform.db import make_engine, make_sessionmaker
from app.platform.uow import unit_of_work
from tests.conftest import NOW, TZ
from tests.helpers import earn, new_member, spend


def _split(url: str) -> tuple[str, str, str]:
    base, _, query = url.partition("?")
    server, _, name = base.rpartition("/")
    return server, name, (f"?{query}" if query else "")


async def _admin(url: str, statement: str) -> None:
    server, _, query = _split(url)
    conn = await asyncpg.connect(f"{server}/postgres{query}")
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _tables(url: str) -> set[str]:
    server, name, query = _split(url)
    conn = await asyncpg.connect(f"{server}/{name}{query}")
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row["tablename"] for row in rows}
    finally:
        await conn.close()


async def _version(url: str) -> list[str]:
    server, name, query = _split(url)
    conn = await asyncpg.connect(f"{server}/{name}{query}")
    try:
        return [row["version_num"] for row in await conn.fetch("SELECT * FROM alembic_version")]
    finally:
        await conn.close()


@pytest.fixture
async def empty_database(database_url):
    """A brand-new database on the test server, dropped afterwards."""
    server, name, query = _split(database_url)
    fresh = f"{name}_migrations_{uuid.uuid4().hex[:8]}"
    url = f"{server}/{fresh}{query}"
    await _admin(url, f'CREATE DATABASE "{fresh}"')
    yield url
    await _admin(url, f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')


def _downgrade(url: str, revision: str) -> None:
    command.downgrade(migrate.alembic_config(url), revision)


async def test_upgrade_from_empty_then_downgrade_to_base(empty_database):
    url = empty_database
    assert await _tables(url) == set()
    head = ScriptDirectory.from_config(migrate.alembic_config(url)).get_current_head()

    await asyncio.to_thread(migrate.upgrade, url)  # alembic runs its own event loop
    assert await _tables(url) == set(metadata.tables) | {"alembic_version"}
    assert await _version(url) == [head]

    await asyncio.to_thread(_downgrade, url, "base")
    assert await _tables(url) == {"alembic_version"}
    assert await _version(url) == []

    await asyncio.to_thread(migrate.upgrade, url)  # and back up again
    assert await _tables(url) == set(metadata.tables) | {"alembic_version"}


async def test_migrated_schema_equals_the_models(empty_database):
    await asyncio.to_thread(migrate.upgrade, empty_database)
    engine = make_engine(empty_database, pool_size=1)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), metadata
                )
            )
    finally:
        await engine.dispose()
    assert diff == []


async def test_migrated_schema_runs_the_ledger(empty_database):
    """The constraints the ledger relies on come from the migration, not from the models."""
    await asyncio.to_thread(migrate.upgrade, empty_database)
    engine = make_engine(empty_database, pool_size=2)
    sessions = make_sessionmaker(engine)
    try:
        async with unit_of_work(sessions, now=NOW, tz=TZ) as uow:
            units = await seed_organisation(uow)
            member = await new_member(uow)
            await earn(uow, member, "100", "HOTEL", ref="M-1")
            await spend(uow, member, 100, "100", "HOTEL")
        with pytest.raises(Exception, match="uq_points_transactions_order"):
            async with unit_of_work(sessions, now=NOW, tz=TZ) as uow:  # bypassing the domain
                await uow.session.execute(
                    metadata.tables["points_transactions"]
                    .insert()
                    .values(
                        member_id=member,
                        kind="EARN",
                        source="ORDER",
                        rule="",
                        business_unit_id=units["HOTEL"],
                        order_ref="M-1",
                        points=0,
                        debt_change=0,
                        detail={},
                        caller="test",
                        created_at=NOW,
                    )
                )
        with pytest.raises(Exception, match="ck_lot_remaining"):
            async with unit_of_work(sessions, now=NOW, tz=TZ) as uow:
                await uow.session.execute(
                    metadata.tables["points_lots"].update().values(remaining=-1)
                )
        async with unit_of_work(sessions, now=NOW, tz=TZ) as uow:
            assert await verify_ledger(uow) == []
    finally:
        await engine.dispose()
