"""`python -m app ...`: serve, migrate, seed, export-schema, credentials and jobs."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import UTC, datetime
from typing import Any

from app.settings import Settings


def _database_url(settings: Settings) -> str:
    from app.platform.db import resolve_database_url

    return resolve_database_url(settings)


def _now(raw: str | None) -> datetime:
    if not raw:
        return datetime.now(UTC)
    moment = datetime.fromisoformat(raw)
    if moment.tzinfo is None:
        raise SystemExit("--now needs an offset, e.g. 2026-12-01T00:00:00+08:00")
    return moment


async def _with_sessions(settings: Settings, url: str, work):
    from app.platform.db import make_engine, make_sessionmaker

    engine = make_engine(url, pool_size=2)
    try:
        return await work(make_sessionmaker(engine))
    finally:
        await engine.dispose()


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> None:
    from app.platform.migrate import upgrade

    upgrade(_database_url(settings))
    print("database is at the latest revision", file=sys.stderr)


def cmd_seed(settings: Settings, args: argparse.Namespace) -> None:
    from app.demo.seed import seed_demo
    from app.platform.migrate import upgrade

    url = _database_url(settings)
    upgrade(url)
    report = asyncio.run(
        _with_sessions(settings, url, lambda s: seed_demo(s, tz=settings.tz, members=args.members))
    )
    print(report, file=sys.stderr)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    import logging

    import uvicorn

    from app.platform.logging import configure_logging, log_config
    from app.platform.migrate import upgrade

    level = (args.log_level or settings.log_level).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise SystemExit(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {level!r}")
    configure_logging(args.log_format, level)
    log = logging.getLogger("app.serve")
    url = _database_url(settings)
    upgrade(url)
    if not args.no_seed and settings.env != "production":
        from app.demo.seed import seed_demo

        report = asyncio.run(_with_sessions(settings, url, lambda s: seed_demo(s, tz=settings.tz)))
        log.info("demo seed: %s", report)
    os.environ["DATABASE_URL"] = url  # workers share the resolved (possibly embedded) server
    if settings.redis_url is None and args.workers > 1:
        log.warning(
            "REDIS_URL is unset: each worker has its own in-process Redis "
            "(dynamic codes and live updates do not cross workers)"
        )
    log.info("GraphQL at http://%s:%s/graphql", args.host, args.port)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=log_config(args.log_format, level),
        log_level=level.lower(),
        access_log=False,  # app.request logs one line per request, with its request id
    )


def cmd_db_stop(settings: Settings, args: argparse.Namespace) -> None:
    from app.platform.db import stop_embedded_server

    if settings.database_url:
        raise SystemExit("DATABASE_URL is set: the gateway runs no embedded PostgreSQL")
    if stop_embedded_server(settings):
        print(f"embedded PostgreSQL in {settings.data_dir / 'pg'} stopped", file=sys.stderr)
    else:
        print(f"no embedded PostgreSQL running in {settings.data_dir / 'pg'}", file=sys.stderr)


def cmd_export_schema(settings: Settings, args: argparse.Namespace) -> None:
    from app.graphql.schema import schema

    sys.stdout.write(schema.as_str() + "\n")


def cmd_token(settings: Settings, args: argparse.Namespace) -> None:
    from app.domain.access.tokens import mint_member_token, mint_operator_token

    if args.kind == "member":
        from app.domain.shared.ids import parse_id

        member_id = parse_id(args.subject)
        if member_id is None:
            raise SystemExit("member id must be a number")
        print(mint_member_token(settings, member_id))
    else:
        print(mint_operator_token(settings, args.subject or f"{args.role}-cli", args.role))


def cmd_partner_key(settings: Settings, args: argparse.Namespace) -> None:
    from app.domain.access.partner_keys import (
        create_partner_key,
        list_partner_keys,
        revoke_partner_key,
    )
    from app.domain.shared.errors import DomainError
    from app.platform.uow import unit_of_work

    async def create(sessions):
        async with unit_of_work(sessions, tz=settings.tz) as uow:
            plaintext, _ = await create_partner_key(
                uow,
                business_unit=args.business_unit,
                scopes=args.scopes.split(","),
                name=args.name or "",
            )
            return plaintext

    async def revoke(sessions):
        async with unit_of_work(sessions, tz=settings.tz) as uow:
            row, revoked = await revoke_partner_key(
                uow, args.key, actor=args.actor, reason=args.reason
            )
        if not revoked:
            return f"partner key {row.id} ({row.prefix}) was revoked already, at {row.revoked_at}"
        return (
            f"partner key {row.id} ({row.prefix}) revoked; every worker refuses it within "
            f"PARTNER_KEY_CACHE_SECONDS ({settings.partner_key_cache_seconds:g} s)"
        )

    async def listed(sessions):
        async with unit_of_work(sessions, tz=settings.tz) as uow:
            rows = await list_partner_keys(uow)
        lines = ["id\tprefix\tunit\tscopes\tname\tcreated\trevoked"]
        for row, unit in rows:
            created = row.created_at.isoformat(timespec="seconds")
            revoked = row.revoked_at.isoformat(timespec="seconds") if row.revoked_at else "-"
            fields = (row.id, row.prefix, unit, row.scopes, row.name, created, revoked)
            lines.append("\t".join(str(field) for field in fields))
        return "\n".join(lines)

    work = {"create": create, "revoke": revoke, "list": listed}[args.action]
    try:
        print(asyncio.run(_with_sessions(settings, _database_url(settings), work)))
    except DomainError as error:
        raise SystemExit(f"error: {error.message}") from None


def cmd_job(settings: Settings, args: argparse.Namespace) -> None:
    from app.jobs.engagement import grant_birthday_gifts
    from app.jobs.points import expire_points, release_pending

    job = {
        "expire": expire_points,
        "release-pending": release_pending,
        "grant-birthday-gifts": grant_birthday_gifts,
    }[args.command]
    now = _now(args.now)

    async def run():
        from app.bootstrap import open_services

        # committed changes are announced to live subscribers through the services' relay
        async with open_services(settings, pool_size=2) as services:
            return await job(services.sessions, now=now, tz=settings.tz, relay=services.relay)

    report = asyncio.run(run())
    print(f"{args.command}: {report.members} members, {report.points} points")


def cmd_evaluate_tiers(settings: Settings, args: argparse.Namespace) -> None:
    from app.bootstrap import open_services
    from app.jobs.tiers import evaluate_tiers

    now = _now(args.now)

    async def run():
        async with open_services(settings, pool_size=2) as services:
            return await evaluate_tiers(
                services.sessions, now=now, tz=settings.tz, relay=services.relay
            )

    print(asyncio.run(run()))


def cmd_rights_job(settings: Settings, args: argparse.Namespace) -> None:
    from app.bootstrap import open_services
    from app.jobs.rights import expire_rights, grant_tier_rights

    job = {"grant-tier-rights": grant_tier_rights, "expire-rights": expire_rights}[args.command]
    now = _now(args.now)

    async def run():
        async with open_services(settings, pool_size=2) as services:
            return await job(services.sessions, now=now, tz=settings.tz, relay=services.relay)

    print(asyncio.run(run()))


def cmd_prune_sessions(settings: Settings, args: argparse.Namespace) -> None:
    from datetime import timedelta

    from app.domain.members.sessions import prune_sessions
    from app.platform.uow import unit_of_work

    now = _now(args.now)
    retention = timedelta(days=settings.session_retention_days)

    async def prune(sessions):
        total = 0
        while True:
            async with unit_of_work(sessions, now=now, tz=settings.tz) as uow:
                done = await prune_sessions(uow, retention=retention)
            total += done
            if done < 1000:
                return total

    pruned = asyncio.run(_with_sessions(settings, _database_url(settings), prune))
    print(f"prune-sessions: {pruned} sessions deleted")


def cmd_mall_job(settings: Settings, args: argparse.Namespace) -> None:
    from app.bootstrap import open_services
    from app.jobs.mall import expire_mall_orders

    now = _now(args.now)

    async def run():
        async with open_services(settings, pool_size=2) as services:
            return await expire_mall_orders(
                services.sessions,
                now=now,
                tz=settings.tz,
                relay=services.relay,
                gate=services.flash_gate,
            )

    print(asyncio.run(run()))


def cmd_mall_complete_job(settings: Settings, args: argparse.Namespace) -> None:
    from app.bootstrap import open_services
    from app.jobs.mall import complete_mall_orders

    now = _now(args.now)

    async def run():
        async with open_services(settings, pool_size=2) as services:
            return await complete_mall_orders(
                services.sessions,
                now=now,
                tz=settings.tz,
                auto_days=settings.mall_auto_complete_days,
                relay=services.relay,
            )

    print(asyncio.run(run()))


def cmd_relay_outbox(settings: Settings, args: argparse.Namespace) -> None:
    from app.bootstrap import open_services

    now = _now(args.now)

    async def run():
        async with open_services(settings, pool_size=2) as services:
            services.clock = lambda: now
            return await services.sweep_outbox()

    print(f"relay-outbox: {asyncio.run(run())} events relayed")


def cmd_dispatch_webhooks(settings: Settings, args: argparse.Namespace) -> None:
    from app.bootstrap import open_services
    from app.jobs.webhooks import WebhookDispatcher

    now = _now(args.now) if args.now else None

    async def run():
        async with open_services(settings, pool_size=2) as services:
            dispatcher = WebhookDispatcher(
                sessions=services.sessions,
                settings=settings,
                clock=(lambda: now) if now else services.clock,
            )
            try:
                return await dispatcher.run_once()
            finally:
                await dispatcher.aclose()

    report = asyncio.run(run())
    print(
        f"dispatch-webhooks: {report.taken} events taken, {report.attempts} attempts,"
        f" {report.delivered} delivered"
    )


def cmd_warn(settings: Settings, args: argparse.Namespace) -> None:
    from app.bootstrap import open_services
    from app.jobs.warnings import warn_expiring_points, warn_tier_downgrades

    job = {
        "warn-expiring-points": warn_expiring_points,
        "warn-tier-downgrades": warn_tier_downgrades,
    }[args.command]
    now = _now(args.now)

    async def run():
        async with open_services(settings, pool_size=2) as services:
            return await job(services.sessions, settings=settings, now=now, relay=services.relay)

    print(f"{args.command}: {asyncio.run(run())} warnings")


def cmd_refresh_figures(settings: Settings, args: argparse.Namespace) -> None:
    from app.bootstrap import open_services
    from app.jobs.figures import refresh

    now, full = _now(args.now), args.command == "rebuild-figures"

    async def run():
        async with open_services(settings, pool_size=2) as services:
            return await refresh(services.sessions, settings=settings, now=now, full=full)

    done = asyncio.run(run())
    since = "in full" if done.from_day is None else f"from {done.from_day.isoformat()}"
    print(
        f"{args.command}: {since} through {done.through.isoformat()},"
        f" {done.unit_days} unit days, {done.member_months} member months"
    )


def cmd_webhooks_run(settings: Settings, args: argparse.Namespace) -> None:
    import logging

    from app.bootstrap import open_services
    from app.jobs.webhooks import WebhookDispatcher
    from app.platform.logging import configure_logging

    configure_logging(args.log_format, settings.log_level)
    logging.getLogger("app.webhooks").info("webhook dispatcher running")

    async def run():
        async with open_services(settings, pool_size=4) as services:
            dispatcher = WebhookDispatcher(
                sessions=services.sessions,
                settings=settings,
                clock=services.clock,
                metrics=services.metrics,
            )
            try:
                await dispatcher.run_forever()
            finally:
                await dispatcher.aclose()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


def cmd_verify(settings: Settings, args: argparse.Namespace) -> None:
    from app.domain.figures.summary import verify_figures
    from app.domain.ledger.audit import verify_ledger
    from app.platform.uow import unit_of_work

    async def verify(sessions):
        async with unit_of_work(sessions, tz=settings.tz) as uow:
            return await verify_ledger(uow) + await verify_figures(uow)

    problems = asyncio.run(_with_sessions(settings, _database_url(settings), verify))
    for problem in problems:
        print(problem)
    print(f"ledger: {'clean' if not problems else f'{len(problems)} problems'}", file=sys.stderr)
    raise SystemExit(1 if problems else 0)


def cmd_close_settlement(settings: Settings, args: argparse.Namespace) -> None:
    from app.bootstrap import open_services
    from app.domain.settlement.closing import settle_window
    from app.domain.shared.errors import DomainError
    from app.jobs.settlement import close_settlement

    now = _now(args.now)
    settle = settle_window(settings.request_timeout_seconds, settings.db_statement_timeout_ms)

    async def run():
        async with open_services(settings, pool_size=2) as services:
            return await close_settlement(
                services.sessions, now=now, tz=settings.tz, period=args.period, settle=settle
            )

    try:
        print(asyncio.run(run()))
    except DomainError as error:
        print(f"close-settlement: {error.code.value}: {error.message}", file=sys.stderr)
        raise SystemExit(2) from None


JOBS: tuple[tuple[str, str, Any], ...] = (
    ("expire", "expire points past their expiry", cmd_job),
    ("release-pending", "release pending points past their return window", cmd_job),
    ("grant-birthday-gifts", "today's birthday gifts (group time zone), once a year", cmd_job),
    ("evaluate-tiers", "apply tier validity ends: keep, or downgrade", cmd_evaluate_tiers),
    ("relay-outbox", "relay events a worker left unrelayed; prune old ones", cmd_relay_outbox),
    ("grant-tier-rights", "tiers' recurring rights, once per member and period", cmd_rights_job),
    ("expire-rights", "mark vouchers past their validity EXPIRED", cmd_rights_job),
    ("prune-sessions", "delete sessions ended SESSION_RETENTION_DAYS ago", cmd_prune_sessions),
    ("dispatch-webhooks", "one pass of the webhook dispatcher", cmd_dispatch_webhooks),
    ("warn-expiring-points", "POINTS_EXPIRING for points expiring soon, once", cmd_warn),
    ("warn-tier-downgrades", "TIER_DOWNGRADE_WARNING before a tier ends, once", cmd_warn),
    ("close-settlement", "close a settlement period that is over", cmd_close_settlement),
    ("refresh-figures", "the figures' summary tables since the last refresh", cmd_refresh_figures),
    ("rebuild-figures", "the figures' summary tables in full", cmd_refresh_figures),
    ("expire-mall-orders", "expire mall orders unpaid past MALL_PAYMENT_MINUTES", cmd_mall_job),
    (
        "complete-mall-orders",
        "complete gifts shipped MALL_AUTO_COMPLETE_DAYS ago and voucher orders all used",
        cmd_mall_complete_job,
    ),
)


def add_jobs(sub: Any) -> None:
    for name, text, run in JOBS:
        job = sub.add_parser(name, help=text)
        job.add_argument("--now", default=None, help="ISO time with offset (testing)")
        if name == "close-settlement":
            job.add_argument("--period", default=None, help="YYYY-MM; default: last month")
        job.set_defaults(run=run)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="migrate, seed the demo when empty, serve on :8000")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--no-seed", action="store_true", help="do not seed the demo group (never in production)"
    )
    serve.add_argument(
        "--log-format",
        choices=["json", "text"],
        default="json",
        help="logs on stderr: one JSON object per line (default) or text",
    )
    serve.add_argument(
        "--log-level",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        default=None,
        help="default: LOG_LEVEL or INFO (one line per request at INFO)",
    )
    serve.set_defaults(run=cmd_serve)

    sub.add_parser("migrate", help="upgrade the database to the latest revision").set_defaults(
        run=cmd_migrate
    )
    seed = sub.add_parser("seed", help="seed the demo group (only into an empty database)")
    seed.add_argument("--members", type=int, default=200)
    seed.set_defaults(run=cmd_seed)
    database = sub.add_parser("db", help="the embedded PostgreSQL (when DATABASE_URL is unset)")
    database_sub = database.add_subparsers(dest="action", required=True)
    database_sub.add_parser(
        "stop", help="stop it (it also stops by itself when the last process using it exits)"
    ).set_defaults(run=cmd_db_stop)
    sub.add_parser("export-schema", help="print the GraphQL SDL").set_defaults(
        run=cmd_export_schema
    )

    token = sub.add_parser("token", help="mint a JWT for development and tests")
    token_kind = token.add_subparsers(dest="kind", required=True)
    member = token_kind.add_parser("member")
    member.add_argument("subject", metavar="member-id")
    operator = token_kind.add_parser("operator")
    operator.add_argument("--role", choices=["ops", "finance"], required=True)
    operator.add_argument("--subject", default=None)
    token.set_defaults(run=cmd_token)

    key = sub.add_parser("partner-key", help="partner API keys")
    key_sub = key.add_subparsers(dest="action", required=True)
    create = key_sub.add_parser("create")
    create.add_argument("--business-unit", required=True, help="unit id or code, e.g. HOTEL")
    create.add_argument("--scopes", required=True, help="comma list: earn,spend,write-off,read")
    create.add_argument("--name", default=None)
    revoke = key_sub.add_parser(
        "revoke", help="revoke a key (audited); workers refuse it within PARTNER_KEY_CACHE_SECONDS"
    )
    revoke.add_argument("key", help="the key's id or prefix, as `partner-key list` shows them")
    revoke.add_argument("--reason", default=None, help="kept in the audit trail")
    revoke.add_argument("--actor", default="cli", help="who revokes it, for the audit trail")
    key_sub.add_parser("list", help="every key: id, prefix, unit, scopes, revoked at")
    key.set_defaults(run=cmd_partner_key)

    add_jobs(sub)  # each job also by its own name, as before `jobs` grouped them
    add_jobs(
        sub.add_parser("jobs", help="batch jobs, each safe to run twice").add_subparsers(
            dest="command", required=True
        )
    )

    webhooks = sub.add_parser("webhooks", help="webhooks out")
    webhooks_sub = webhooks.add_subparsers(dest="action", required=True)
    run = webhooks_sub.add_parser("run", help="run the webhook dispatcher alone (production)")
    run.add_argument("--log-format", choices=["json", "text"], default="json")
    run.set_defaults(run=cmd_webhooks_run)

    sub.add_parser(
        "verify-ledger", help="recompute balances and lots; exit 1 on drift"
    ).set_defaults(run=cmd_verify)
    return root


def main(argv: list[str] | None = None) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    args = parser().parse_args(argv)
    args.run(Settings.from_env(), args)
