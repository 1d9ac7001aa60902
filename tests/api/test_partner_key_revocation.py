"""Revoking a partner key: by id or prefix, audited once, and refused by a worker as soon as it
has seen the configuration version the revocation moved, well within
PARTNER_KEY_CACHE_SECONDS, although the worker had the key remembered."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.domain.access.partner_keys import (
    find_partner_key,
    list_partner_keys,
    revoke_partner_key,
)
from app.domain.shared.errors import DomainError, ErrorCode
from app.models import PartnerKey
from app.models.operations import OperatorAction
from tests.api.conftest import error_code, refusal

UNITS = "{ businessUnits { code } }"


async def test_a_revoked_key_is_refused_once_the_worker_reads_the_configuration(
    units, gql, client, creds, uow_factory
):
    hotel = await creds.partner("HOTEL", "read")
    assert error_code(await gql(UNITS, as_=hotel)) is None  # remembered from now on
    prefix = hotel["X-Api-Key"].split("_")[1]

    async with uow_factory() as uow:
        row, revoked = await revoke_partner_key(uow, prefix, actor="ops:test", reason="leaked")
    assert revoked and row.revoked_at is not None
    # Any request of the worker reads the configuration's version, which the revocation moved
    # (the clock has not moved: the key is still within PARTNER_KEY_CACHE_SECONDS) ...
    assert error_code(await gql(UNITS, as_=creds.operator())) is None
    # ... and from then on the remembered key no longer matches it and is looked up again.
    error = await refusal(client, hotel, UNITS)
    assert error["extensions"]["reason"] == "INVALID_API_KEY"

    # A key that was not revoked is looked up again too, and still works.
    mall = await creds.partner("MALL", "read")
    assert error_code(await gql(UNITS, as_=mall)) is None


async def test_revoking_is_audited_once_and_names_the_key_by_id_or_prefix(
    units, creds, uow_factory
):
    key = (await creds.partner("HOTEL", "earn"))["X-Api-Key"]
    prefix = key.split("_")[1]
    async with uow_factory() as uow:
        row = await find_partner_key(uow, prefix)
        assert (await find_partner_key(uow, f"bmg_{prefix}")).id == row.id
        assert (await find_partner_key(uow, key)).id == row.id  # the whole key, pasted
        assert (await find_partner_key(uow, str(row.id))).id == row.id
    async with uow_factory() as uow:
        _, revoked = await revoke_partner_key(uow, row.id or 0, actor="ops:a", reason=" leaked ")
    async with uow_factory() as uow:
        again, twice = await revoke_partner_key(uow, prefix, actor="ops:b")
    assert (revoked, twice) == (True, False)
    async with uow_factory() as uow:
        trail = list(
            await uow.session.scalars(
                select(OperatorAction).where(OperatorAction.target_kind == "partnerKey")
            )
        )
        stored = await uow.session.get(PartnerKey, row.id)
        listed = await list_partner_keys(uow)
    assert [(a.action, a.actor, a.reason, a.target_id) for a in trail] == [
        ("partnerKey.revoke", "ops:a", "leaked", str(row.id))
    ]
    assert stored is not None and stored.revoked_at == again.revoked_at is not None
    assert [(r.prefix, unit, r.revoked_at is not None) for r, unit in listed] == [
        (prefix, "HOTEL", True)
    ]


@pytest.mark.parametrize("key", ["", "nope", "bmg_000000000000_x", "999999"])
async def test_an_unknown_key_is_not_found_and_nothing_changes(units, creds, uow_factory, key):
    await creds.partner("HOTEL", "earn")
    async with uow_factory() as uow:
        with pytest.raises(DomainError) as caught:
            await revoke_partner_key(uow, key, actor="ops:test")
    assert caught.value.code == ErrorCode.NOT_FOUND
    async with uow_factory() as uow:
        assert all(row.revoked_at is None for row, _ in await list_partner_keys(uow))
        assert not list(await uow.session.scalars(select(OperatorAction)))


async def test_a_reason_over_200_characters_is_refused(units, creds, uow_factory):
    key = (await creds.partner("HOTEL", "earn"))["X-Api-Key"]
    async with uow_factory() as uow:
        with pytest.raises(DomainError) as caught:
            await revoke_partner_key(uow, key, actor="ops:test", reason="x" * 201)
    assert caught.value.code == ErrorCode.INVALID_INPUT
    async with uow_factory() as uow:
        assert (await find_partner_key(uow, key)).revoked_at is None
