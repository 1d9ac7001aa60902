"""Members sign in from the mini-program, as its developers would call the gateway: the first
sign-in (phone required, a new member with the welcome points once), the return sign-in,
binding to a member first registered at a till, a phone bound to another WeChat account,
refresh rotation and reuse, sign-out, the member's sessions, WeChat's failures, rate limits,
and who may call what. WeChat is a loopback stand-in speaking its documented shapes."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.domain.engagement.rule_book import seed_activity_rules
from app.domain.members.identity import register_member
from app.models import AbuseFlag, Member
from app.platform.logging import MaskSecrets
from app.settings import AbusePolicy, Settings
from tests.api.conftest import error_code
from tests.conftest import Clock
from tests.fake_wechat import APPID, SECRET, FakeWeChat, serving

SIGN_IN = """
mutation($input: SignInWithWeChatInput!) {
  signInWithWeChat(input: $input) {
    accessToken refreshToken expiresAt refreshExpiresAt created
    member { id displayName phoneMasked registeredVia { code } }
    errors { code field message }
  }
}"""
REFRESH = """
mutation($t: String!) {
  refreshSession(input: {refreshToken: $t}) {
    accessToken refreshToken expiresAt errors { code field message }
  }
}"""
SIGN_OUT = """
mutation($t: String!) { signOut(input: {refreshToken: $t}) { errors { code field } } }"""
ME = "{ me { id points { available } } }"
SESSIONS = "{ mySessions { id via deviceId current expiresAt } }"
END = """
mutation($id: ID!) { endSession(input: {sessionId: $id}) { session { id } errors { code } } }"""
UNBIND = """
mutation($m: ID!, $r: String!) {
  unbindWeChat(input: {memberId: $m, reason: $r}) { unbound errors { code field } }
}"""


@pytest.fixture
def clock() -> Clock:
    # Access tokens expire by the wall clock (PyJWT): the test's time is now.
    return Clock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def wechat():
    fake = FakeWeChat()
    async with serving(fake) as url:  # type: ignore[arg-type]
        fake.url = url
        yield fake


@pytest.fixture
def settings(redis_prefix, wechat) -> Settings:
    return Settings(
        redis_prefix=redis_prefix,
        wechat_appid=APPID,
        wechat_secret=SECRET,
        wechat_api_base=wechat.url,
        wechat_timeout_seconds=0.5,
    )


@pytest.fixture
async def world(units, uow_factory, services):
    async with uow_factory() as uow:
        await seed_activity_rules(uow)  # registration: +100
    yield units
    if services.wechat is not None and hasattr(services.wechat.client, "aclose"):
        await services.wechat.client.aclose()


async def new_member(uow, unit: str = "MALL", *, phone: str) -> int:
    """A member registered at a unit's till (not through the mini-program)."""
    member = await register_member(uow, phone=phone, display_name="Till Member", business_unit=unit)
    assert member.id is not None
    return member.id


async def sign_in(gql, **fields) -> dict:
    body = await gql(SIGN_IN, {"input": fields})
    assert "errors" not in body, body
    return body["data"]["signInWithWeChat"]


def bearer(payload: dict) -> dict:
    return {"Authorization": f"Bearer {payload['accessToken']}"}


def codes(payload: dict) -> list[tuple[str, str | None]]:
    return [(e["code"], e["field"]) for e in payload["errors"]]


async def test_a_first_sign_in_asks_for_a_phone_then_registers_a_member_once(
    world, gql, wechat, uow_factory
):
    asked = await sign_in(gql, code=wechat.login("o-li"))
    assert codes(asked) == [("PHONE_REQUIRED", "phoneCode")]
    assert asked["accessToken"] is None and asked["created"] is False
    assert wechat.hits["getuserphonenumber"] == 0

    first = await sign_in(gql, code=wechat.login("o-li"), phoneCode=wechat.phone("13912340001"))
    assert first["errors"] == [] and first["created"] is True
    member = first["member"]
    assert (member["phoneMasked"], member["registeredVia"]["code"]) == ("139****0001", "MALL")
    me = (await gql(ME, as_=bearer(first)))["data"]["me"]
    assert me == {"id": member["id"], "points": {"available": 100}}  # the welcome points

    again = await sign_in(gql, code=wechat.login("o-li"))  # no phone needed any more
    assert (again["created"], again["member"]["id"]) == (False, member["id"])
    assert again["refreshToken"] != first["refreshToken"]
    me = (await gql(ME, as_=bearer(again)))["data"]["me"]
    assert me["points"]["available"] == 100  # welcome points once
    async with uow_factory() as uow:
        assert len(list(await uow.session.scalars(select(Member)))) == 1


async def test_a_phone_of_a_member_registered_at_a_till_binds_to_that_member(
    world, gql, wechat, uow_factory
):
    async with uow_factory() as uow:
        till_member = await new_member(uow, "HOTEL", phone="13912340002")
    first = await sign_in(gql, code=wechat.login("o-wang"), phoneCode=wechat.phone("13912340002"))
    assert (first["created"], first["member"]["id"]) == (False, str(till_member))
    assert first["member"]["registeredVia"]["code"] == "HOTEL"
    back = await sign_in(gql, code=wechat.login("o-wang"))
    assert back["member"]["id"] == str(till_member)


async def test_a_referral_code_is_kept_and_an_unknown_one_spends_no_phone_code(
    world, gql, wechat, uow_factory
):
    async with uow_factory() as uow:
        referrer = await uow.session.get(Member, await new_member(uow, phone="13912340003"))
    phone_code = wechat.phone("13912340004")
    wrong = await sign_in(
        gql, code=wechat.login("o-zhao"), phoneCode=phone_code, referralCode="NOPE"
    )
    assert codes(wrong) == [("NOT_FOUND", "referralCode")]
    assert wechat.hits["getuserphonenumber"] == 0  # the phone code is still good
    done = await sign_in(
        gql,
        code=wechat.login("o-zhao"),
        phoneCode=phone_code,
        referralCode=referrer.referral_code.lower(),
    )
    assert done["created"] is True
    async with uow_factory() as uow:
        joined = await uow.session.get(Member, int(done["member"]["id"]))
        assert joined.referred_by_id == referrer.id


async def test_a_phone_bound_to_another_wechat_account_needs_an_operator_to_move(
    world, gql, wechat, creds
):
    first = await sign_in(gql, code=wechat.login("o-old"), phoneCode=wechat.phone("13912340005"))
    member_id = first["member"]["id"]
    other = await sign_in(gql, code=wechat.login("o-new"), phoneCode=wechat.phone("13912340005"))
    assert codes(other) == [("PHONE_BOUND", "phoneCode")]

    body = await gql(UNBIND, {"m": member_id, "r": ""}, as_=creds.operator())
    assert codes(body["data"]["unbindWeChat"]) == [("INVALID_INPUT", "reason")]
    member_tries = await gql(UNBIND, {"m": member_id, "r": "mine"}, as_=bearer(first))
    assert error_code(member_tries) == "FORBIDDEN"
    body = await gql(UNBIND, {"m": member_id, "r": "new phone, ID seen"}, as_=creds.operator())
    assert body["data"]["unbindWeChat"] == {"unbound": 1, "errors": []}
    trail = await gql(
        '{ operatorActions(targetKind: "member") { edges { node { action reason detail } } } }',
        as_=creds.operator(),
    )
    [action] = [e["node"] for e in trail["data"]["operatorActions"]["edges"]]
    assert (action["action"], action["reason"]) == ("member.wechat_unbind", "new phone, ID seen")
    assert action["detail"]["unbound"] == [{"appid": APPID, "openid": "o-old"}]
    assert action["detail"]["phone"] == "139****0005"

    old_refresh = (await gql(REFRESH, {"t": first["refreshToken"]}))["data"]["refreshSession"]
    assert codes(old_refresh) == [("INVALID_TOKEN", "refreshToken")]  # its sessions ended
    moved = await sign_in(gql, code=wechat.login("o-new"), phoneCode=wechat.phone("13912340005"))
    assert (moved["created"], moved["member"]["id"]) == (False, member_id)


async def test_refresh_rotates_and_a_used_refresh_token_ends_the_session(world, gql, wechat):
    first = await sign_in(gql, code=wechat.login("o-sun"), phoneCode=wechat.phone("13912340006"))
    second = (await gql(REFRESH, {"t": first["refreshToken"]}))["data"]["refreshSession"]
    assert second["errors"] == [] and second["refreshToken"] != first["refreshToken"]
    assert (await gql(ME, as_=bearer(second)))["data"]["me"]["id"] == first["member"]["id"]
    third = (await gql(REFRESH, {"t": second["refreshToken"]}))["data"]["refreshSession"]
    assert third["errors"] == []

    # The first token comes back (a copy someone kept): the whole session ends.
    reused = (await gql(REFRESH, {"t": first["refreshToken"]}))["data"]["refreshSession"]
    assert codes(reused) == [("INVALID_TOKEN", "refreshToken")]
    assert reused["accessToken"] is None
    latest = (await gql(REFRESH, {"t": third["refreshToken"]}))["data"]["refreshSession"]
    assert codes(latest) == [("INVALID_TOKEN", "refreshToken")]
    assert (await gql(SESSIONS, as_=bearer(third)))["data"]["mySessions"] == []


async def test_unknown_or_malformed_refresh_tokens_are_invalid_not_internal(world, gql):
    for token in ("", "rt_unknown", "x" * 500, "rt_" + "a" * 43):
        body = await gql(REFRESH, {"t": token})
        assert codes(body["data"]["refreshSession"]) == [("INVALID_TOKEN", "refreshToken")]


async def test_sign_out_ends_the_session_and_may_be_repeated(world, gql, wechat):
    first = await sign_in(gql, code=wechat.login("o-he"), phoneCode=wechat.phone("13912340007"))
    out = await gql(SIGN_OUT, {"t": first["refreshToken"]})
    assert out["data"]["signOut"]["errors"] == []
    assert (await gql(SIGN_OUT, {"t": first["refreshToken"]}))["data"]["signOut"]["errors"] == []
    refused = (await gql(REFRESH, {"t": first["refreshToken"]}))["data"]["refreshSession"]
    assert codes(refused) == [("INVALID_TOKEN", "refreshToken")]
    unknown = await gql(SIGN_OUT, {"t": "rt_nothing"})
    assert codes(unknown["data"]["signOut"]) == [("INVALID_TOKEN", "refreshToken")]


async def test_a_member_lists_and_ends_their_own_sessions_only(world, gql, wechat, creds, clock):
    clock.advance(minutes=-2)  # the second sign-in a minute later, still not in the future
    phone = wechat.phone("13912340008")
    phone_device = await sign_in(gql, code=wechat.login("o-ma"), phoneCode=phone, deviceId="d-1")
    clock.advance(minutes=1)
    tablet = await sign_in(gql, code=wechat.login("o-ma"), deviceId="d-2")
    listed = (await gql(SESSIONS, as_=bearer(tablet)))["data"]["mySessions"]
    assert [(s["deviceId"], s["current"], s["via"]) for s in listed] == [
        ("d-2", True, "WECHAT"),
        ("d-1", False, "WECHAT"),
    ]
    stranger = await sign_in(gql, code=wechat.login("o-xu"), phoneCode=wechat.phone("13912340009"))
    theirs = await gql(END, {"id": listed[1]["id"]}, as_=bearer(stranger))
    assert theirs["data"]["endSession"] == {"session": None, "errors": [{"code": "NOT_FOUND"}]}
    ended = await gql(END, {"id": listed[1]["id"]}, as_=bearer(tablet))
    assert ended["data"]["endSession"]["errors"] == []
    assert [
        s["deviceId"] for s in (await gql(SESSIONS, as_=bearer(tablet)))["data"]["mySessions"]
    ] == ["d-2"]
    refused = (await gql(REFRESH, {"t": phone_device["refreshToken"]}))["data"]["refreshSession"]
    assert codes(refused) == [("INVALID_TOKEN", "refreshToken")]

    assert error_code(await gql(SESSIONS)) == "UNAUTHENTICATED"
    assert error_code(await gql(SESSIONS, as_=creds.operator())) == "FORBIDDEN"
    hotel = await creds.partner("HOTEL")
    assert error_code(await gql(END, {"id": listed[0]["id"]}, as_=hotel)) == "FORBIDDEN"
    by_ops = await gql(END, {"id": listed[0]["id"]}, as_=creds.operator())
    assert by_ops["data"]["endSession"]["errors"] == []


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (40029, ("INVALID_CODE", "code")),
        (40163, ("INVALID_CODE", "code")),
        (45011, ("UNAVAILABLE", None)),
        (-1, ("UNAVAILABLE", None)),  # busy on every retry
        ("timeout", ("UNAVAILABLE", None)),
        ("HTTP 502", ("UNAVAILABLE", None)),
    ],
)
async def test_wechat_failures_are_typed_errors(world, gql, wechat, failure, expected):
    wechat.fail("jscode2session", failure, times=3)
    body = await sign_in(gql, code=wechat.login("o-fail"), phoneCode=wechat.phone("13912340010"))
    assert codes(body) == [expected]
    assert body["accessToken"] is None


async def test_a_bad_phone_code_or_a_foreign_number_is_refused_without_a_member(
    world, gql, wechat, uow_factory
):
    bad = await sign_in(gql, code=wechat.login("o-qi"), phoneCode="forged")
    assert codes(bad) == [("INVALID_CODE", "phoneCode")]
    foreign = await sign_in(gql, code=wechat.login("o-qi"), phoneCode=wechat.phone("2025550123"))
    assert codes(foreign) == [("INVALID_INPUT", "phoneCode")]
    empty = await sign_in(gql, code="   ")
    assert codes(empty) == [("INVALID_INPUT", "code")]
    async with uow_factory() as uow:
        assert list(await uow.session.scalars(select(Member))) == []


async def test_the_session_key_never_leaves_the_gateway(world, client, wechat, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.handler.addFilter(MaskSecrets())  # what the gateway's log handler does
    response = await client.post(
        "/graphql",
        json={
            "query": SIGN_IN,
            "variables": {
                "input": {"code": wechat.login("o-key"), "phoneCode": wechat.phone("13912340011")}
            },
        },
    )
    assert response.json()["data"]["signInWithWeChat"]["created"] is True
    [session_key] = wechat.session_keys
    assert session_key not in response.text and session_key not in caplog.text
    assert "jscode2session" in caplog.text  # the HTTP client did log the call...
    assert SECRET not in caplog.text  # ...without the app secret
    body = response.json()["data"]["signInWithWeChat"]
    assert body["refreshToken"] not in caplog.text


async def test_sign_in_attempts_are_limited_per_device_before_wechat_is_asked(
    world, gql, wechat, services
):
    services.settings = replace(
        services.settings, abuse=AbusePolicy(sign_in_device_limit=2, sign_in_openid_limit=0)
    )
    for _ in range(2):
        await sign_in(gql, code="forged", deviceId="dev-9")
    limited = await sign_in(gql, code=wechat.login("o-lim"), deviceId="dev-9")
    assert codes(limited) == [("LIMIT_REACHED", "deviceId")]
    assert wechat.hits["jscode2session"] == 2
    elsewhere = await sign_in(gql, code=wechat.login("o-lim"), deviceId="dev-10")
    assert codes(elsewhere) == [("PHONE_REQUIRED", "phoneCode")]


async def test_sign_in_attempts_are_limited_per_wechat_user(world, gql, wechat, services):
    services.settings = replace(
        services.settings, abuse=AbusePolicy(sign_in_device_limit=0, sign_in_openid_limit=2)
    )
    for _ in range(2):
        await sign_in(gql, code=wechat.login("o-busy"))
    limited = await sign_in(gql, code=wechat.login("o-busy"), phoneCode=wechat.phone("13912340012"))
    assert codes(limited) == [("LIMIT_REACHED", "code")]
    assert wechat.hits["getuserphonenumber"] == 0


async def test_registrations_from_one_device_count_for_the_shared_device_limit(
    world, gql, wechat, services, uow_factory
):
    services.settings = replace(services.settings, abuse=AbusePolicy(device_member_limit=1))
    for i in range(2):
        done = await sign_in(
            gql,
            code=wechat.login(f"o-dev{i}"),
            phoneCode=wechat.phone(f"1391234002{i}"),
            deviceId="shared-phone",
        )
        assert done["created"] is True
    async with uow_factory() as uow:
        flags = list(await uow.session.scalars(select(AbuseFlag)))
    assert [(f.kind, f.device_id) for f in flags] == [("SHARED_DEVICE", "shared-phone")]


async def test_without_a_wechat_app_the_development_stand_in_signs_in(
    units, gql, services, uow_factory
):
    services.wechat = None
    services.settings = replace(services.settings, wechat_appid="")
    from app.bootstrap import build_wechat

    services.wechat = build_wechat(services.settings, services.redis, services.metrics)
    async with uow_factory() as uow:
        showcase = await new_member(uow, phone="13800138000")
    first = await sign_in(gql, code="alice", phoneCode="any")
    assert (first["created"], first["member"]["id"]) == (False, str(showcase))
    assert (await sign_in(gql, code="alice"))["member"]["id"] == str(showcase)
    fresh = await sign_in(gql, code="bob", phoneCode="13911112222")
    assert fresh["created"] is True
    assert codes(await sign_in(gql, code="invalid")) == [("INVALID_CODE", "code")]

    production = replace(services.settings, env="production")
    assert build_wechat(production, services.redis, services.metrics) is None
    services.wechat = None
    assert codes(await sign_in(gql, code="alice")) == [("UNAVAILABLE", None)]
