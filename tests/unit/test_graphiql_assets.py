"""GraphiQL's page and its files (app/graphql/core/ide.py): the files the page names are
served by the gateway once they are in place and intact; otherwise the page keeps the CDN."""

from __future__ import annotations

import shutil

from app.graphql.core.ide import ASSETS_DIR, MOUNT, Asset, assets, cdn_page, graphiql_page, missing


def test_the_page_names_react_graphiql_and_the_explorer_with_their_hashes():
    names = {asset.package for asset in assets()}
    assert {"react", "react-dom", "graphiql", "@graphiql/plugin-explorer"} <= names
    assert all(asset.integrity.startswith("sha384-") for asset in assets())
    explorer = next(a for a in assets() if a.package == "@graphiql/plugin-explorer")
    assert explorer.tarball_url("https://registry.example/").endswith(
        "/@graphiql/plugin-explorer/-/plugin-explorer-1.0.2.tgz"
    )


def test_without_its_files_the_page_keeps_the_cdn(tmp_path):
    assert missing(tmp_path) == assets()
    assert graphiql_page(tmp_path) == cdn_page()


def test_with_its_files_the_page_loads_them_from_the_gateway(tmp_path):
    if missing(ASSETS_DIR):  # fetched at install (scripts/fetch_graphiql.py): make them here
        for asset in assets():
            target = tmp_path / asset.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(b"stand-in")
        faked = [Asset(a.package, a.version, a.path, a.integrity) for a in assets()]
        assert missing(tmp_path) == faked  # wrong bytes are as good as none
        return
    shutil.copytree(ASSETS_DIR, tmp_path, dirs_exist_ok=True)
    page = graphiql_page(tmp_path)
    assert "unpkg.com" not in page
    assert page.count(f'"{MOUNT}/') == len(assets())
    tampered = tmp_path / assets()[0].name
    tampered.write_bytes(tampered.read_bytes() + b"\n// changed")
    assert missing(tmp_path) == [assets()[0]]
    assert graphiql_page(tmp_path) == cdn_page()
