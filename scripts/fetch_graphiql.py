"""Put GraphiQL's files (React, GraphiQL, the explorer plugin: the npm packages' own) in
app/static/graphiql/, so the gateway serves them itself (app/graphql/core/ide.py).

Which files: those Strawberry's GraphiQL page names, at the versions and with the integrity
hashes it names. Each comes from its package's tarball in the npm registry (NPM_REGISTRY, else
npm's configured one, else registry.npmjs.org) and is kept only if it matches its hash. Files
already in place and intact are not fetched again. Run by scripts/_venv.sh after each install
and by the Dockerfile; exit code 1 when a file could not be had (the page then uses the CDN).

    .venv/bin/python scripts/fetch_graphiql.py
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.graphql.core.ide import ASSETS_DIR, Asset, assets, missing

DEFAULT_REGISTRY = "https://registry.npmjs.org"


def registry() -> str:
    configured = os.environ.get("NPM_REGISTRY")
    if configured:
        return configured
    if shutil.which("npm"):
        try:
            answer = subprocess.run(
                ["npm", "config", "get", "registry"], capture_output=True, text=True, timeout=20
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            answer = ""
        if answer.startswith("http"):
            return answer
    return DEFAULT_REGISTRY


def tarball(url: str) -> tarfile.TarFile:
    with urllib.request.urlopen(url, timeout=60) as response:
        return tarfile.open(fileobj=io.BytesIO(response.read()), mode="r:gz")


def fetch(wanted: list[Asset], source: str) -> list[str]:
    """Fetch `wanted` into ASSETS_DIR; the problems met (none: all in place)."""
    problems: list[str] = []
    packages: dict[str, tarfile.TarFile] = {}
    for asset in wanted:
        url = asset.tarball_url(source)
        try:
            if url not in packages:
                packages[url] = tarball(url)
            member = packages[url].extractfile(f"package/{asset.path}")
            content = member.read() if member is not None else b""
        except (OSError, KeyError, tarfile.TarError) as error:
            problems.append(f"{asset.name}: {error}")
            continue
        if not asset.matches(content):
            problems.append(f"{asset.name}: does not match the page's integrity hash")
            continue
        target = ASSETS_DIR / asset.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return problems


def main() -> int:
    wanted = missing()
    if not wanted:
        return 0
    source = registry()
    problems = fetch(wanted, source)
    for problem in problems:
        print(f"GraphiQL files: {problem}", file=sys.stderr)
    if problems:
        print(f"GraphiQL will load them from the CDN (registry: {source})", file=sys.stderr)
        return 1
    print(f"GraphiQL files in {ASSETS_DIR} ({len(assets())} from {source})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
