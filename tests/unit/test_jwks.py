"""An external provider's keys: fetched once, fetched again for a key id it did not publish
(a rotation), but not more often than the floor, and kept when a fetch fails."""

from __future__ import annotations

import pytest

from app.sources.jwks import JwksKeys
from tests.fake_pms import serving
from tests.jwks_server import IdentityProvider


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def idp():
    provider = IdentityProvider()
    provider.new_key("k1")
    async with serving(provider) as url:  # type: ignore[arg-type]
        provider.url = url + "/jwks.json"
        yield provider


async def test_keys_are_fetched_once_and_again_for_a_rotated_key(idp):
    ticks = Ticks()
    keys = JwksKeys(idp.url, clock=ticks, refresh_seconds=3600, min_refetch_seconds=30)
    assert (await keys.find("k1")).key_id == "k1"
    assert (await keys.find("k1")) is not None
    assert idp.fetches == 1
    idp.new_key("k2")  # the provider rotates
    assert await keys.find("k2") is None  # within the floor: no fetch for an unknown id
    assert idp.fetches == 1
    ticks.now += 31
    assert (await keys.find("k2")).key_id == "k2"
    assert idp.fetches == 2
    for _ in range(5):
        assert await keys.find("made-up") is None  # a stream of made-up ids: no more fetches
    assert idp.fetches == 2
    await keys.aclose()


async def test_a_failed_fetch_keeps_the_known_keys(idp):
    ticks = Ticks()
    keys = JwksKeys(idp.url, clock=ticks, refresh_seconds=60, min_refetch_seconds=1)
    assert await keys.find("k1") is not None
    keys.url = idp.url.replace("/jwks.json", "/gone")
    ticks.now += 61
    assert await keys.find("k1") is not None
    assert idp.fetches == 1
    await keys.aclose()
