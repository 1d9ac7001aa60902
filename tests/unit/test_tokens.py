"""Tokens name their issuer, audience and signing key: a rotated key still verifies what it
signed, an unknown key or another audience does not; an external provider's tokens verify
with its published key only."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from app.domain.access.tokens import (
    InvalidToken,
    decode_external_token,
    decode_token,
    is_external,
    mint_member_token,
)
from app.settings import Settings

OLD = "old-secret-of-at-least-32-characters-000001"
NEW = "new-secret-of-at-least-32-characters-000002"


def test_a_token_names_its_key_issuer_audience_and_session():
    settings = Settings(jwt_secret=NEW, jwt_key_id="k2")
    token = mint_member_token(settings, 7, session_id="s1", ttl_seconds=60)
    assert jwt.get_unverified_header(token)["kid"] == "k2"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["iss"], claims["aud"], claims["sid"]) == (
        settings.jwt_issuer,
        settings.jwt_audience,
        "s1",
    )
    assert claims["exp"] - claims["iat"] == 60
    principal = decode_token(settings, token)
    assert (principal.member_id, principal.session_id) == (7, "s1")


def test_after_a_rotation_the_previous_key_still_verifies_and_a_dropped_one_does_not():
    before = Settings(jwt_secret=OLD, jwt_key_id="k1")
    token = mint_member_token(before, 7)
    rotated = Settings(jwt_secret=NEW, jwt_key_id="k2", jwt_previous_keys=f"k1:{OLD}")
    assert decode_token(rotated, token).member_id == 7
    assert decode_token(rotated, mint_member_token(rotated, 8)).member_id == 8
    with pytest.raises(InvalidToken):
        decode_token(Settings(jwt_secret=NEW, jwt_key_id="k2"), token)


def test_a_key_id_naming_a_known_key_with_another_secret_is_refused():
    token = mint_member_token(Settings(jwt_secret=OLD, jwt_key_id="k2"), 7)
    with pytest.raises(InvalidToken):
        decode_token(Settings(jwt_secret=NEW, jwt_key_id="k2"), token)


@pytest.mark.parametrize("field", ["jwt_audience", "jwt_issuer"])
def test_a_token_for_another_audience_or_from_another_issuer_is_refused(field):
    settings = Settings(jwt_secret=NEW)
    token = mint_member_token(replace(settings, **{field: "someone-else"}), 7)
    with pytest.raises(InvalidToken):
        decode_token(settings, token)


# --- An external identity provider ------------------------------------------------------------

EXTERNAL = Settings(
    jwt_secret=NEW,
    jwks_url="http://idp.test/.well-known/jwks.json",
    jwks_issuer="https://idp.group.test",
    jwks_audience="membership",
)


@pytest.fixture(scope="module")
def idp_key():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = jwt.PyJWK.from_dict(
        {**jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True), "kid": "idp1"},
        algorithm="RS256",
    )
    return private, public


def _external(private, **claims) -> str:
    payload = {
        "iss": EXTERNAL.jwks_issuer,
        "aud": "membership",
        "sub": "42",
        "exp": int((datetime.now(UTC) + timedelta(minutes=5)).timestamp()),
        **claims,
    }
    return jwt.encode(payload, private, algorithm="RS256", headers={"kid": "idp1"})


async def test_an_external_token_verifies_with_the_published_key(idp_key):
    private, public = idp_key
    token = _external(private)
    assert is_external(EXTERNAL, token)
    assert not is_external(EXTERNAL, mint_member_token(EXTERNAL, 1))

    async def keys(kid):
        return public if kid == "idp1" else None

    principal = await decode_external_token(EXTERNAL, token, keys)
    assert (principal.kind, principal.member_id, principal.caller) == ("member", 42, "member:42")


async def test_an_external_token_is_refused_with_another_key_audience_or_no_member(idp_key):
    private, public = idp_key
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    async def keys(kid):
        return public if kid == "idp1" else None

    for token in (
        _external(other),  # signed by someone else under the provider's key id
        _external(private, aud="another-app"),
        _external(private, sub="alice"),
        _external(private, exp=int(datetime(2020, 1, 1, tzinfo=UTC).timestamp())),
    ):
        with pytest.raises(InvalidToken):
            await decode_external_token(EXTERNAL, token, keys)

    async def none(kid):
        return None

    with pytest.raises(InvalidToken):
        await decode_external_token(EXTERNAL, _external(private, sub="43"), none)


async def test_an_external_token_signed_with_a_shared_secret_is_refused(idp_key):
    _, public = idp_key
    # The classic confusion: HS256 "signed" with the public key's text as the secret.
    forged = jwt.encode(
        {"iss": EXTERNAL.jwks_issuer, "aud": "membership", "sub": "42", "exp": 4102444800},
        "x" * 32,
        algorithm="HS256",
        headers={"kid": "idp1"},
    )

    async def keys(kid):
        return public

    with pytest.raises(InvalidToken):
        await decode_external_token(EXTERNAL, forged, keys)


# --- Settings -----------------------------------------------------------------------------------


def test_sign_in_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("JWT_KEY_ID", "k2")
    monkeypatch.setenv("JWT_PREVIOUS_KEYS", f"k1:{OLD}")
    monkeypatch.setenv("WECHAT_APPID", "wx123")
    monkeypatch.setenv("WECHAT_SECRET", "s" * 32)
    monkeypatch.setenv("ABUSE_SIGN_IN_DEVICE_LIMIT", "3")
    settings = Settings.from_env()
    assert (settings.jwt_key_id, settings.wechat_appid) == ("k2", "wx123")
    assert settings.abuse.sign_in_device_limit == 3
    assert settings.access_token_ttl_seconds == 900
    monkeypatch.delenv("WECHAT_SECRET")
    with pytest.raises(RuntimeError, match="WECHAT_SECRET"):
        Settings.from_env()


def test_production_refuses_short_previous_keys(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("JWT_SECRET", NEW)
    monkeypatch.setenv("JWT_PREVIOUS_KEYS", "k1:short")
    with pytest.raises(RuntimeError, match="JWT_PREVIOUS_KEYS"):
        Settings.from_env()
