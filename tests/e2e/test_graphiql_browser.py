"""GraphiQL works without the internet: in Debian's Chromium (headless), with every host but the
gateway's unreachable, the page served by a real `serve` process renders GraphiQL with its
explorer plugin and runs a query with a member's token.

Needs `chromium` and `chromedriver` (Debian's `chromium` and `chromium-driver` packages; .ci/run
installs them). Without them the test is skipped, except under CI (CI=true), where it fails.
"""

from __future__ import annotations

import json
import os
import shutil
from urllib.parse import quote, urlencode

import httpx
import pytest

from app.domain.access.tokens import mint_member_token
from app.graphql.core.ide import MOUNT, assets
from app.settings import Settings
from tests.e2e.servers import GatewayProcess
from tests.helpers import new_member

WAIT = 60  # seconds a step may take before the test fails instead of hanging


def browser_paths() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    message = "Debian's chromium and chromium-driver are not installed"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (.ci/run installs them)")
    pytest.skip(message + ": apt-get install chromium chromium-driver")


@pytest.fixture
def browser():
    chromium, driver_path = browser_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # as root in a container
        "--disable-dev-shm-usage",
        "--window-size=1400,900",
        # no internet: every name but the gateway's own address fails to resolve
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(WAIT)
    yield driver
    driver.quit()


@pytest.fixture
def gateway(units, database_url, tmp_path):
    server = GatewayProcess(database_url, tmp_path / "gateway.log")
    server.wait_ready()
    yield server
    server.stop()


def test_the_page_names_only_the_gateways_own_files(gateway):
    page = httpx.get(f"{gateway.base}/graphql", headers={"Accept": "text/html"}, timeout=10).text
    assert "unpkg.com" not in page and "https://" not in page.split("<script>")[0]
    for asset in assets():
        assert f'"{MOUNT}/{asset.name}"' in page
        served = httpx.get(f"{gateway.base}{MOUNT}/{asset.name}", timeout=10)
        assert served.status_code == 200 and asset.matches(served.content), asset.name


async def test_graphiql_renders_offline_and_runs_a_query_with_a_token(
    gateway, browser, uow_factory
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL", display_name="Lin Offline")
    query = "{ me { id displayName } }"
    token = mint_member_token(Settings(), member)  # the development secret, as `serve` has it
    headers = json.dumps({"Authorization": f"Bearer {token}"})
    browser.get(
        f"{gateway.base}/graphql?{urlencode({'q': query, 'headers': headers}, quote_via=quote)}"
    )
    wait = WebDriverWait(browser, WAIT)
    run = wait.until(ready.element_to_be_clickable((By.CSS_SELECTOR, ".graphiql-execute-button")))
    # the explorer plugin is there (its button in the sidebar)
    assert browser.find_elements(By.CSS_SELECTOR, "[aria-label='Show GraphiQL Explorer']")
    run.click()
    result = wait.until(
        lambda page: (
            text
            if "Lin Offline" in (text := page.find_element(By.CSS_SELECTOR, ".result-window").text)
            else False
        )
    )
    answer = json.loads(result)
    assert answer["data"] == {"me": {"id": str(member), "displayName": "Lin Offline"}}
    assert "errors" not in answer
    failed = [
        entry["message"]
        for entry in browser.get_log("browser")
        if entry["level"] == "SEVERE" and "favicon" not in entry["message"]
    ]
    assert failed == []  # nothing the page wanted failed to load
