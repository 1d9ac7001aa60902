"""Gateway processes for end-to-end tests: `python -m app serve` on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


class GatewayProcess:
    """One `serve` process; its logs (stderr) go to a file the test can read."""

    def __init__(self, database_url: str, log_path: Path, **env: str | None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/graphql"
        self.log_path = log_path
        environment = {**os.environ, "DATABASE_URL": database_url}
        environment.pop("JWT_SECRET", None)  # the development secret: tests mint with it
        for name, value in env.items():
            if value is None:
                environment.pop(name, None)
            else:
                environment[name] = value
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(self.port), "--no-seed"],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            text=True,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                if self.process.poll() is not None:
                    raise AssertionError(self.logs()) from None
                time.sleep(0.2)
        self.stop()
        raise AssertionError(f"server did not start:\n{self.logs()}")

    def logs(self) -> str:
        """What the process has written to stderr so far."""
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if not self._log.closed:
            self._log.close()
