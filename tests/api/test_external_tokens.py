"""A group that runs its own identity provider: its member tokens work at the gateway,
verified with the keys it publishes (JWKS); a token it did not sign does not."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from app.domain.members.identity import register_member
from app.settings import Settings
from tests.api.conftest import refusal
from tests.fake_pms import serving
from tests.jwks_server import ISSUER, IdentityProvider

ME = "{ me { id } }"


@pytest.fixture
async def idp():
    provider = IdentityProvider()
    provider.new_key("idp-1")
    async with serving(provider) as url:  # type: ignore[arg-type]
        provider.url = url + "/jwks.json"
        yield provider


@pytest.fixture
def settings(redis_prefix, idp) -> Settings:
    return Settings(
        redis_prefix=redis_prefix,
        jwks_url=idp.url,
        jwks_issuer=ISSUER,
        jwks_audience="membership",
    )


async def test_a_member_token_of_the_groups_provider_is_accepted(
    units, gql, client, idp, uow_factory, creds, services
):
    async with uow_factory() as uow:
        member = await register_member(
            uow, phone="13912349999", display_name="IdP Member", business_unit="MALL"
        )
    token = idp.token("idp-1", member=str(member.id))
    body = await gql(ME, as_={"Authorization": f"Bearer {token}"})
    assert body["data"]["me"] == {"id": str(member.id)}
    unknown = idp.token("idp-1", member="987654")  # well signed, no such member
    error = await refusal(client, {"Authorization": f"Bearer {unknown}"}, ME)
    assert error["extensions"]["reason"] == "UNKNOWN_MEMBER"

    idp.keys["idp-1"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = idp.token("idp-1", member=str(member.id))  # the provider's key id, another key
    error = await refusal(client, {"Authorization": f"Bearer {forged}"}, ME)
    assert error["extensions"]["reason"] == "INVALID_TOKEN"
    other_audience = idp.token("idp-1", member=str(member.id), aud="another-app")
    error = await refusal(client, {"Authorization": f"Bearer {other_audience}"}, ME)
    assert error["extensions"]["reason"] == "INVALID_TOKEN"
    # The gateway's own tokens still work beside the provider's.
    assert (await gql(ME, as_=creds.member(member.id)))["data"]["me"]["id"] == str(member.id)
    await services.identity_keys.aclose()
