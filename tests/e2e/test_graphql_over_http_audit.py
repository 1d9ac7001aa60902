"""The GraphQL-over-HTTP specification's audit (the `graphql-http` npm package's
`auditServer`) against a served gateway: every MUST, SHOULD and MAY check passes.

The audit is a small Node script (tests/http_audit/); its packages are pinned by
package-lock.json and installed with `npm ci` into tests/http_audit/node_modules (ignored by
git) the first time. Without Node and npm the test is skipped, except under CI=true, where it
fails: CI must run it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from app.bootstrap import Services
from app.domain.access.tokens import mint_operator_token
from app.main import create_app
from app.settings import Settings
from tests.e2e.served import served

AUDIT_DIR = Path(__file__).resolve().parents[1] / "http_audit"


def node_tools() -> tuple[str, str]:
    """node and npm, installing the audit's packages when they are missing or stale."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        message = "the GraphQL-over-HTTP audit needs Node.js and npm on PATH"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: CI must run the audit)")
        pytest.skip(message)
    locked = json.loads((AUDIT_DIR / "package-lock.json").read_text())["packages"]
    wanted = locked["node_modules/graphql-http"]["version"]
    installed = AUDIT_DIR / "node_modules" / "graphql-http" / "package.json"
    if not installed.exists() or json.loads(installed.read_text())["version"] != wanted:
        subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=AUDIT_DIR,
            check=True,
            capture_output=True,
            timeout=300,
        )
    return node, npm


@pytest.fixture
def services(sessions, redis_client, redis_prefix, clock) -> Services:
    return Services(
        settings=Settings(redis_prefix=redis_prefix),
        sessions=sessions,
        redis=redis_client,
        clock=lambda: clock.now,
    )


async def test_every_audit_of_the_graphql_over_http_specification_passes(units, services):
    node, _ = node_tools()
    token = mint_operator_token(services.settings, "ops-1", "ops")
    async with served(create_app(services=services)) as address:
        process = await asyncio.create_subprocess_exec(
            node,
            str(AUDIT_DIR / "audit.mjs"),
            f"http://{address}/graphql",
            f"Authorization: Bearer {token}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    results = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert len(results) > 50, results  # the whole audit ran, not a part of it
    failed = [result for result in results if result["status"] != "ok"]
    assert failed == [], json.dumps(failed, indent=2)
    ids = {result["id"] for result in results}
    # the checks the gateway once failed: graphql-response+json, 4xx for parse and validation
    # failures under it, without `data`
    assert {"22EB", "865D", "556A", "D586", "51FE", "74FF", "5E5B", "86EE"} <= ids
