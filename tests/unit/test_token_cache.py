"""Verified bearer tokens are remembered until they expire, and only under their own secret."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.domain.access.principals import Principal
from app.domain.access.tokens import InvalidToken, VerifiedTokens, decode_token, mint_member_token
from app.settings import Settings

SECRET = "test-secret-of-at-least-32-characters-0123"
OTHER = "another-secret-of-at-least-32-characters-9"
MEMBER = Principal(kind="member", subject="7", member_id=7)


def test_a_token_is_remembered_until_it_expires():
    cache = VerifiedTokens()
    cache.put(SECRET, "t", 100.0, MEMBER)
    assert cache.get(SECRET, "t", 99.9) is MEMBER
    assert cache.get(SECRET, "t", 100.0) is None
    assert cache.get(SECRET, "t", 50.0) is None  # forgotten once found expired


def test_a_token_is_trusted_only_under_the_secret_that_verified_it():
    cache = VerifiedTokens()
    cache.put(SECRET, "t", 100.0, MEMBER)
    assert cache.get(OTHER, "t", 1.0) is None


def test_the_least_recently_used_token_leaves_first():
    cache = VerifiedTokens(maxsize=2)
    cache.put(SECRET, "a", 100.0, MEMBER)
    cache.put(SECRET, "b", 100.0, MEMBER)
    assert cache.get(SECRET, "a", 1.0) is MEMBER
    cache.put(SECRET, "c", 100.0, MEMBER)
    assert cache.get(SECRET, "b", 1.0) is None
    assert cache.get(SECRET, "a", 1.0) is MEMBER


def test_a_remembered_token_is_refused_under_another_secret():
    settings = Settings(jwt_secret=SECRET)
    token = mint_member_token(settings, 7)
    assert decode_token(settings, token).member_id == 7
    assert decode_token(settings, token).member_id == 7  # from the cache
    with pytest.raises(InvalidToken):
        decode_token(Settings(jwt_secret=OTHER), token)


def test_an_expired_token_is_refused_even_if_never_seen():
    settings = Settings(jwt_secret=SECRET, jwt_ttl_seconds=60)
    token = mint_member_token(settings, 7, now=datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(InvalidToken):
        decode_token(settings, token)
