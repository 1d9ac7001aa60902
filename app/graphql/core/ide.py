"""GraphiQL served from the gateway itself: its page loads React, GraphiQL and the explorer
plugin from the gateway, never from a public CDN, so it works offline and where that CDN is slow
or unreachable.

The page is Strawberry's own GraphiQL page with each `https://unpkg.com/<package>@<version>/<file>`
it names rewritten to `/graphiql-assets/<package>@<version>/<file>`. The files are the npm
packages' own, put in `app/static/graphiql/` at install time by `scripts/fetch_graphiql.py`
(from the npm registry, each checked against the page's `integrity` hash, which the browser
checks again); they are not committed. Without them (the script could not reach the registry)
the page falls back to the CDN and a warning says how to fetch them.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from strawberry.http.ides import get_graphql_ide_html

log = logging.getLogger(__name__)

ASSETS_DIR = Path(__file__).resolve().parents[2] / "static" / "graphiql"
MOUNT = "/graphiql-assets"
_CDN = "https://unpkg.com/"
_TAG = re.compile(r"<(?:script|link)\b[^>]*>", re.S)
_URL = re.compile(r'(?:src|href)="https://unpkg\.com/((?:@[^/"]+/)?[^@/"]+)@([^/"]+)/([^"]+)"')
_INTEGRITY = re.compile(r'integrity="(sha384-[^"]+)"')


@dataclass(frozen=True)
class Asset:
    """One file of an npm package that the GraphiQL page loads."""

    package: str  # e.g. "@graphiql/plugin-explorer"
    version: str
    path: str  # inside the package, e.g. "dist/index.umd.js"
    integrity: str  # "sha384-<base64>", as the page states it

    @property
    def name(self) -> str:
        """Where it lives under ASSETS_DIR and MOUNT."""
        return f"{self.package}@{self.version}/{self.path}"

    @property
    def cdn_url(self) -> str:
        return f"{_CDN}{self.name}"

    def tarball_url(self, registry: str) -> str:
        """The package's tarball in an npm registry."""
        base = self.package.rsplit("/", 1)[-1]
        return f"{registry.rstrip('/')}/{self.package}/-/{base}-{self.version}.tgz"

    def matches(self, content: bytes) -> bool:
        """Whether `content` is the file the page's integrity hash names."""
        digest = base64.b64encode(hashlib.sha384(content).digest()).decode()
        return self.integrity == f"sha384-{digest}"


def cdn_page() -> str:
    """Strawberry's GraphiQL page, as it ships (assets from the CDN)."""
    return get_graphql_ide_html("graphiql")


def assets(page: str | None = None) -> list[Asset]:
    """Every CDN file the page loads, with its integrity hash."""
    found = []
    for tag in _TAG.findall(page if page is not None else cdn_page()):
        url, integrity = _URL.search(tag), _INTEGRITY.search(tag)
        if url and integrity:
            package, version, path = url.groups()
            found.append(Asset(package, version, path, integrity.group(1)))
    return found


def missing(directory: Path = ASSETS_DIR) -> list[Asset]:
    """The page's files not (correctly) in `directory`."""
    return [
        asset
        for asset in assets()
        if not (directory / asset.name).is_file()
        or not asset.matches((directory / asset.name).read_bytes())
    ]


def graphiql_page(directory: Path = ASSETS_DIR) -> str:
    """The GraphiQL page with its files served by the gateway (MOUNT); the CDN page, with a
    warning, when they were not fetched."""
    page = cdn_page()
    absent = missing(directory)
    if absent:
        log.warning(
            "GraphiQL's files are not installed (%s missing): the page loads them from %s; "
            "run `.venv/bin/python scripts/fetch_graphiql.py` to serve them from the gateway",
            len(absent),
            _CDN,
        )
        return page
    for asset in assets(page):
        page = page.replace(asset.cdn_url, f"{MOUNT}/{asset.name}")
    return page
