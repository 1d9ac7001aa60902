"""Benchmark the gateway against the raw-SQL limit of the same work on the same PostgreSQL.

    scripts/bench [--scale 100000] [--lots 20] [--workers 2] [--duration 15] [--connections 32]

1. builds a data set in a database of its own (`bmg_bench` on DATABASE_URL's server, default
   the local PostgreSQL): `--scale` members with `--lots` earned lots each;
2. starts the gateway (`python -m app serve`) with `--workers` against it and real Redis;
3. drives load with wrk: earnPoints, spendPoints, the mini-program home query, a partner
   till flow (memberByCode then earnPoints), and an empty query (`{ __typename }`: what the
   gateway costs before any SQL);
4. measures the raw limit with pgbench scripts sending the SQL the gateway sends (earn, home);
5. counts SQL statements per request for each operation (in process, by engine events);
6. with `--flash N` (default 2000), a flash sale of N attempts on 100 in stock, through the
   Redis gate and on the database alone (scripts/bench_flash.py);
7. prints a table and writes it to `--out` (scripts/bench-results.md).
With `--split`, PostgreSQL is pinned to the first core and everything else (the gateway, wrk,
pgbench) to the others, as when the gateway runs on machines of its own: then neither side's
CPU is taken from the other's budget, and each operation is bound by whichever side is slower.
Figures are measurements, never pass/fail thresholds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

import asyncpg  # noqa: E402
import bench_profile  # noqa: E402
import httpx  # noqa: E402
from bench_data import generate  # noqa: E402
from bench_load import (  # noqa: E402
    HOME_MEMBERS,
    TILL_MEMBERS,
    active_member,
    lua_list,
    pgbench_script,
    wrk_script,
)
from bench_report import report  # noqa: E402

JWT_SECRET = "bench-only-secret-0123456789abcdef-0123456789"
PREFIX = "bmgbench:"
OPERATIONS = ("earn", "spend", "home", "till", "empty")
RAW = ("earn", "home")


def need(tool: str, package: str) -> None:
    if shutil.which(tool):
        return
    print(f"installing {package} (Debian package) for {tool}", file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=False)
    if not shutil.which(tool):
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True)


def database_urls(base: str) -> tuple[str, str]:
    head, _, query = base.partition("?")
    server = head.rpartition("/")[0]
    tail = f"?{query}" if query else ""
    return f"{server}/postgres{tail}", f"{server}/bmg_bench{tail}"


async def recreate(admin_url: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute('DROP DATABASE IF EXISTS "bmg_bench" WITH (FORCE)')
        await conn.execute('CREATE DATABASE "bmg_bench"')
    finally:
        await conn.close()


async def prepare(url: str, args: argparse.Namespace) -> dict:
    """Organisation, data set, a HOTEL partner key, member tokens and dynamic codes."""
    from app.demo.organisation import seed_organisation
    from app.domain.access.partner_keys import create_partner_key
    from app.domain.access.tokens import mint_member_token
    from app.platform.db import make_engine, make_sessionmaker
    from app.platform.uow import unit_of_work
    from app.settings import Settings

    settings = Settings(jwt_secret=JWT_SECRET)
    engine = make_engine(url, pool_size=2)
    sessions = make_sessionmaker(engine)
    if not args.reuse:
        async with unit_of_work(sessions, tz=settings.tz) as uow:
            await seed_organisation(uow)
        started = time.monotonic()
        await generate(url, members=args.scale, lots=args.lots)
        print(
            f"data set: {args.scale} members x {args.lots} lots "
            f"in {time.monotonic() - started:.0f} s",
            file=sys.stderr,
        )
    async with unit_of_work(sessions, tz=settings.tz) as uow:
        key, _ = await create_partner_key(
            uow, business_unit="HOTEL", scopes=["earn", "spend", "read"], name="bench"
        )
    await engine.dispose()
    import random

    rng = random.Random(1)
    # the members signed in for the home query: the raw script reads the same ones
    tokens = [
        mint_member_token(settings, active_member(i, args.scale)) for i in range(HOME_MEMBERS)
    ]
    codes = [
        (f"{rng.randrange(10**17, 10**18)}", active_member(i, args.scale))
        for i in range(TILL_MEMBERS)
    ]
    import redis

    client = redis.Redis.from_url(args.redis_url)
    for code, member in codes:
        client.set(f"{PREFIX}dyncode:{code}", str(member), ex=24 * 3600)
    client.close()
    return {"key": key, "tokens": tokens, "codes": codes}


def load_cpus(args: argparse.Namespace) -> set[int] | None:
    """The cores the gateway and the load generators run on (None: anywhere)."""
    return set(range(1, os.cpu_count() or 2)) if args.split else None


def pinned(cpus: set[int] | None) -> dict:
    """Popen arguments that start a process on `cpus` (its children inherit them)."""
    return {"preexec_fn": (lambda: os.sched_setaffinity(0, cpus))} if cpus else {}


def pin_postgres(cpus: set[int]) -> None:
    """Pin every PostgreSQL process to `cpus`: the postmaster's later backends inherit them."""
    for pid, (comm, _, _) in process_table().items():
        if comm == "postgres":
            try:
                os.sched_setaffinity(pid, cpus)
            except OSError:
                pass  # a backend that just ended


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# A handful of callers at full speed: per-caller budgets so large they never refuse, but still
# asked on every request (their Redis round trip is part of the figures); the same for the
# velocity limits, as an active member earns many times in a run (and in runs before it).
LIMITS = {
    "QUERY_BUDGET_CAPACITY": "1000000000",
    "QUERY_BUDGET_LEAK_PER_SECOND": "1000000000",
    "ABUSE_MEMBER_EARN_LIMIT": "1000000000",
    "ABUSE_DEVICE_EARN_LIMIT": "1000000000",
}


def start_gateway(url: str, args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": args.redis_url,
        "REDIS_PREFIX": PREFIX,
        "JWT_SECRET": JWT_SECRET,
        "APP_ENV": "production",
        "DB_POOL_SIZE": str(max(4, args.connections // args.workers)),
        "LOG_LEVEL": "warning",
        **LIMITS,
    }
    log = open(Path(tempfile.gettempdir()) / "bmg-bench-gateway.log", "w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app",
            "serve",
            "--no-seed",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        **pinned(load_cpus(args)),
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            if process.poll() is not None:
                raise SystemExit(f"gateway exited; see {log.name}") from None
            time.sleep(0.3)
    process.kill()
    raise SystemExit("gateway did not start")


def process_table() -> dict[int, tuple[str, int, float]]:
    """Every process: pid -> (command name, parent pid, CPU seconds used so far)."""
    ticks = os.sysconf("SC_CLK_TCK")
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        rest = stat[stat.rindex(")") + 2 :].split()
        table[int(entry.name)] = (comm, int(rest[1]), (int(rest[11]) + int(rest[12])) / ticks)
    return table


def cpu_split(gateway_pid: int | None) -> dict[str, float]:
    """CPU seconds used so far, per process, grouped: the gateway's processes, PostgreSQL's."""
    table = process_table()
    family = {gateway_pid} if gateway_pid else set()
    grew = True
    while grew:
        children = {pid for pid, (_, parent, _) in table.items() if parent in family}
        grew = not children <= family
        family |= children
    return {
        **{f"gateway:{pid}": table[pid][2] for pid in family if pid in table},
        **{
            f"{postgres_group(pid)}:{pid}": cpu
            for pid, (comm, _, cpu) in table.items()
            if comm == "postgres"
        },
    }


def postgres_group(pid: int) -> str:
    """`backend` for a process serving a connection to the benchmark's database (its title:
    `postgres: 15/main: postgres bmg_bench 127.0.0.1(...) idle`), else `background` (WAL
    writer, checkpointer, autovacuum: work that follows the writes, at its own pace)."""
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "background"
    serving = " bmg_bench " in f"{title} " and "autovacuum" not in title
    return "backend" if serving else "background"


def measure_cpu(command: list[str], seconds: int, gateway_pid: int | None, **popen) -> tuple:
    """Run a load generator; sample CPU use after its first second and before its last one.
    Returns (its stdout, its return code, gateway CPU seconds, PostgreSQL CPU seconds, window)."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen
    )
    window = max(1.0, seconds - 2.0)
    time.sleep(1.0)
    before = cpu_split(gateway_pid)
    time.sleep(window)
    after = cpu_split(gateway_pid)
    out, err = process.communicate()
    used = {group: 0.0 for group in ("gateway", "backend", "background")}
    for key, cpu in after.items():
        used[key.partition(":")[0]] += cpu - before.get(key, 0.0)
    postgres = {"all": used["backend"] + used["background"], "backend": used["backend"]}
    return out, err, process.returncode, used["gateway"], postgres, window


def run_wrk(
    base: str,
    kind: str,
    creds: dict,
    args: argparse.Namespace,
    seconds: int,
    gateway_pid: int | None = None,
) -> dict:
    script = wrk_script(
        kind,
        run=f"{int(time.time())}{kind[0]}{seconds}",
        members=args.scale,
        key=creds["key"],
        tokens=lua_list(creds["tokens"]),
        codes=lua_list([[code, member] for code, member in creds["codes"]]),
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    out, _, _, gateway_cpu, postgres_cpu, window = measure_cpu(
        [
            "wrk",
            "-t",
            str(args.threads),
            "-c",
            str(args.connections),
            "-d",
            f"{seconds}s",
            "--timeout",
            "10s",
            "-s",
            handle.name,
            f"{base}/graphql",
        ],
        seconds,
        gateway_pid,
        **pinned(load_cpus(args)),
    )
    line = next(x for x in out.splitlines() if x.startswith("BENCH "))
    result = json.loads(line[6:])
    result["rps"] = result["requests"] / result["seconds"]
    if kind == "till":
        result["rps"] /= 2  # one flow = two requests
    done = result["rps"] * window
    result["gateway_cpu_ms"] = 1000 * gateway_cpu / done if done else None
    result["postgres_cpu_ms"] = 1000 * postgres_cpu["all"] / done if done else None
    result["backend_cpu_ms"] = 1000 * postgres_cpu["backend"] / done if done else None
    return result


def run_pgbench(url: str, kind: str, args: argparse.Namespace, seconds: int | None = None) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="bmg-pgbench-"))
    script = workdir / f"{kind}.sql"
    script.write_text(pgbench_script(kind, members=args.scale))
    stdout, stderr, code, _, postgres_cpu, window = measure_cpu(
        [
            "pgbench",
            "-n",
            "-M",
            "prepared",  # as asyncpg sends them: parsed and planned once per connection
            "-c",
            str(args.connections),
            "-j",
            str(args.threads),
            "-T",
            str(seconds or args.duration),
            "-f",
            str(script),
            "-l",
            "--log-prefix",
            str(workdir / "log"),
            url,
        ],
        seconds or args.duration,
        None,
        cwd=workdir,
        **pinned(load_cpus(args)),
    )
    if code != 0:
        raise SystemExit(f"pgbench {kind} failed:\n{stderr[-2000:]}")
    tps = float(re.search(r"tps = ([\d.]+)", stdout).group(1))
    latencies = sorted(
        int(line.split()[2]) / 1000
        for log in workdir.glob("log*")
        for line in log.read_text().splitlines()
    )
    shutil.rmtree(workdir, ignore_errors=True)
    return {
        "rps": tps,
        "p50_ms": latencies[len(latencies) // 2],
        "p99_ms": latencies[int(len(latencies) * 0.99)],
        "postgres_cpu_ms": 1000 * postgres_cpu["all"] / (tps * window) if tps else None,
        "backend_cpu_ms": 1000 * postgres_cpu["backend"] / (tps * window) if tps else None,
    }


async def statements_per_request(url: str, creds: dict, args: argparse.Namespace) -> dict:
    """SQL statements each operation sends, counted in process through the real app."""
    from sqlalchemy import event

    from app.bootstrap import Services, make_redis
    from app.main import create_app
    from app.platform.db import make_engine, make_sessionmaker
    from app.platform.driver import watch_statements
    from app.settings import AbusePolicy, Settings

    settings = Settings(
        jwt_secret=JWT_SECRET,
        redis_url=args.redis_url,
        redis_prefix=PREFIX,
        abuse=AbusePolicy.from_env(LIMITS),  # as the gateway under load: counted, not refused
        # a request's own statements: the outbox's marking is one UPDATE per worker per 0.2 s
        # for every request meanwhile, not one per request
        outbox_mark_seconds=3600,
    )
    engine = make_engine(url, pool_size=2)
    services = Services(
        settings=settings, sessions=make_sessionmaker(engine), redis=make_redis(settings)
    )
    seen: list[str] = []
    event.listen(
        engine.sync_engine, "before_cursor_execute", lambda *a: seen.append(" ".join(a[2].split()))
    )
    watching = watch_statements(lambda sql: seen.append(" ".join(sql.split())))
    watching.__enter__()
    key = {"X-Api-Key": creds["key"]}
    code, member = creds["codes"][0]

    def requests_at(stamp: str) -> dict:
        """Each operation's requests, with order refs and keys of their own."""
        earn = (
            "mutation($i: EarnPointsInput!){earnPoints(input:$i){points errors{code}}}",
            {
                "i": {
                    "memberId": str(member),
                    "businessUnitId": "HOTEL",
                    "amount": "88.00",
                    "orderRef": f"C{stamp}",
                    "idempotencyKey": f"C{stamp}",
                }
            },
        )
        requests = {
            "earn": [(earn, key)],
            "spend": [
                (
                    (
                        "mutation($i: SpendPointsInput!){spendPoints(input:$i){cnyDeducted "
                        "errors{code}}}",
                        {
                            "i": {
                                "memberId": str(member),
                                "businessUnitId": "HOTEL",
                                "points": 100,
                                "orderAmount": "1000.00",
                                "orderRef": f"D{stamp}",
                                "idempotencyKey": f"D{stamp}",
                            }
                        },
                    ),
                    key,
                )
            ],
            "home": [
                (
                    (
                        "{ me { id displayName points { available pending expiring(withinDays: 30)"
                        " { expiresOn points } } transactions(first: 10) { edges { node { id kind"
                        " points orderRef createdAt businessUnit { code } } } } } }",
                        {},
                    ),
                    {"Authorization": f"Bearer {creds['tokens'][0]}"},
                )
            ],
            "till": [
                ((f'{{ memberByCode(code: "{code}") {{ id }} }}', {}), key),
                (
                    (
                        earn[0],
                        {
                            "i": {
                                **earn[1]["i"],
                                "orderRef": f"E{stamp}",
                                "idempotencyKey": f"E{stamp}",
                            }
                        },
                    ),
                    key,
                ),
            ],
        }
        return requests

    counts, texts = {}, {}
    transport = httpx.ASGITransport(app=create_app(services=services))
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
        # steady state: the gateway remembers an authenticated partner key for a while
        await http.post("/graphql", json={"query": "{ businessUnits { code } }"}, headers=key)
        # twice, counting the second: a worker's steady state (its copy of the configuration)
        for run in ("a", "b"):
            for kind, calls in requests_at(f"{int(time.time())}{run}").items():
                seen.clear()
                for (query, variables), headers in calls:
                    body = (
                        await http.post(
                            "/graphql",
                            json={"query": query, "variables": variables},
                            headers=headers,
                        )
                    ).json()
                    if body.get("errors"):
                        raise SystemExit(f"{kind} failed: {body['errors']}")
                counts[kind] = len(seen)
                texts[kind] = list(seen)
    watching.__exit__(None, None, None)
    await engine.dispose()
    return {"counts": counts, "texts": texts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=100_000, help="members (up to 1,000,000)")
    parser.add_argument("--lots", type=int, default=20, help="earned lots per member")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="wrk / pgbench threads")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=int, default=15, help="seconds per operation")
    parser.add_argument("--ops", default=",".join(OPERATIONS))
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--reuse", action="store_true", help="keep the existing bmg_bench data")
    parser.add_argument(
        "--split",
        action="store_true",
        help="PostgreSQL on the first core, the gateway and load generators on the others",
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="after each operation's run, profile a second run with py-spy into DIR",
    )
    parser.add_argument(
        "--webhooks",
        type=int,
        default=2000,
        metavar="EVENTS",
        help="webhook delivery throughput over this many events (0: skip; bench_webhooks.py)",
    )
    parser.add_argument(
        "--settlement",
        type=int,
        default=100_000,
        metavar="ALLOCATIONS",
        help="close a settlement month of this many allocation rows (0: skip;"
        " 5000000 for the issue's month; bench_settlement.py)",
    )
    parser.add_argument(
        "--figures",
        type=int,
        default=10_000,
        metavar="MEMBERS",
        help="the figures' refresh and queries on this many members (0: skip; bench_figures.py)",
    )
    parser.add_argument(
        "--flash",
        type=int,
        default=2000,
        metavar="ATTEMPTS",
        help="a flash sale of this many attempts on 100 in stock, with and without the Redis"
        " gate (0: skip; bench_flash.py)",
    )
    parser.add_argument("--out", default=str(ROOT / "scripts" / "bench-results.md"))
    args = parser.parse_args()
    args.ops = [op for op in args.ops.split(",") if op]
    if not 1 <= args.scale <= 1_000_000:
        raise SystemExit("--scale must be 1 .. 1,000,000")
    need("wrk", "wrk")
    need("pgbench", "postgresql-contrib")
    admin_url, url = database_urls(args.database_url)
    if not args.reuse:
        from app.platform import migrate

        asyncio.run(recreate(admin_url))
        with ThreadPoolExecutor(1) as pool:
            pool.submit(migrate.upgrade, url).result()
    creds = asyncio.run(prepare(url, args))
    statements = asyncio.run(statements_per_request(url, creds, args))
    if args.split:
        if (os.cpu_count() or 1) < 2:
            raise SystemExit("--split needs at least two cores")
        pin_postgres({0})
    try:
        measured = measure_all(url, creds, args)
    finally:
        if args.split:
            pin_postgres(set(range(os.cpu_count() or 1)))
    text = report(args, *measured, statements)
    if args.webhooks:
        import bench_webhooks

        figure = bench_webhooks.run(args.database_url, args.webhooks, 20)
        text += "\n" + bench_webhooks.line(figure) + "\n"
    if args.settlement:
        import bench_settlement

        closing = bench_settlement.run(args.database_url, args.settlement)
        text += "\n" + bench_settlement.line(closing) + "\n"
    if args.figures:
        import bench_figures

        measured_figures = bench_figures.run(args.database_url, args.figures, args.lots, 5)
        text += "\n" + bench_figures.table(measured_figures, args.figures, args.lots) + "\n"
    if args.flash:
        import bench_flash

        sale = bench_flash.run(args.database_url, args.redis_url, args.flash, 100, 500)
        text += "\n" + bench_flash.lines(sale) + "\n"
    Path(args.out).write_text(text)
    print(text)


def profile(pid: int, base: str, kind: str, creds: dict, args: argparse.Namespace) -> None:
    """A second run of `kind` with py-spy sampling the workers: DIR/kind.txt (raw stacks,
    for flame graph tools) and DIR/kind.md (the summary)."""
    folder = Path(args.profile)
    folder.mkdir(parents=True, exist_ok=True)
    stacks = folder / f"{kind}.txt"
    spy = bench_profile.record(pid, args.duration, stacks)
    run_wrk(base, kind, creds, args, seconds=args.duration)
    spy.wait(timeout=60)
    text = bench_profile.summary(stacks)
    (folder / f"{kind}.md").write_text(f"# Profile: {kind}\n\n{text}")
    print(f"profile {kind}:\n{text}", file=sys.stderr)


def measure_all(url: str, creds: dict, args: argparse.Namespace) -> tuple[dict, dict]:
    """Each operation through the gateway with wrk, then the raw limit with pgbench."""
    process, base = start_gateway(url, args)
    results = {}
    try:
        for kind in args.ops:
            run_wrk(base, kind, creds, args, seconds=3)  # warm-up: caches, pools, JIT-free
            results[kind] = run_wrk(
                base, kind, creds, args, seconds=args.duration, gateway_pid=process.pid
            )
            print(f"gateway {kind}: {results[kind]}", file=sys.stderr)
            if args.profile:
                profile(process.pid, base, kind, creds, args)
    finally:
        process.terminate()
        process.wait(timeout=30)
    raw = {}
    for kind in RAW:
        if kind in args.ops:
            run_pgbench(url, kind, args, seconds=3)  # warm-up, as for the gateway
            raw[kind] = run_pgbench(url, kind, args)
            print(f"raw {kind}: {raw[kind]}", file=sys.stderr)
    return results, raw


if __name__ == "__main__":
    main()
