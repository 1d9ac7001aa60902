"""The per-process cache of authenticated partner keys: ttl, size bound, off switch."""

from __future__ import annotations

from datetime import timedelta

from app.domain.access.partner_cache import PartnerKeyCache
from app.domain.access.principals import Principal
from tests.conftest import NOW

HOTEL = Principal(kind="partner", subject="1", unit_id=2, scopes=frozenset({"earn"}))
MALL = Principal(kind="partner", subject="2", unit_id=1, scopes=frozenset({"read"}))


def test_a_key_is_remembered_for_the_ttl_only():
    cache = PartnerKeyCache(seconds=30)
    cache.put("bmg_a_secret", HOTEL, NOW)
    assert cache.get("bmg_a_secret", NOW + timedelta(seconds=29)) is HOTEL
    assert cache.get(" bmg_a_secret ", NOW) is HOTEL  # as the header may carry it
    assert cache.get("bmg_a_other", NOW) is None
    assert cache.get("bmg_a_secret", NOW + timedelta(seconds=30)) is None
    assert cache.get("bmg_a_secret", NOW) is None  # forgotten, not revived


def test_a_clock_moved_back_forgets_the_key():
    cache = PartnerKeyCache(seconds=30)
    cache.put("k", HOTEL, NOW)
    assert cache.get("k", NOW - timedelta(seconds=1)) is None


def test_the_oldest_key_goes_first_when_full():
    cache = PartnerKeyCache(seconds=30, maxsize=2)
    cache.put("one", HOTEL, NOW)
    cache.put("two", MALL, NOW)
    assert cache.get("one", NOW) is HOTEL
    cache.put("three", MALL, NOW)
    assert cache.get("two", NOW) is None
    assert cache.get("one", NOW) is HOTEL
    assert cache.get("three", NOW) is MALL


def test_zero_seconds_turns_it_off():
    cache = PartnerKeyCache(seconds=0)
    cache.put("k", HOTEL, NOW)
    assert cache.get("k", NOW) is None


def test_a_key_remembered_under_another_configuration_version_is_forgotten():
    cache = PartnerKeyCache(seconds=30)
    cache.put("k", HOTEL, NOW, ("gen", 7))
    assert cache.get("k", NOW, ("gen", 7)) is HOTEL
    # a revocation moved the version: the key is looked up again, however recent
    assert cache.get("k", NOW, ("gen", 8)) is None
    assert cache.get("k", NOW, ("gen", 7)) is None  # forgotten, not revived
    cache.put("k", HOTEL, NOW, ("gen", 8))
    assert cache.get("k", NOW, ("other", 8)) is None  # a new database
