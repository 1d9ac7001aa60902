"""The rules of webhooks out that need no database: the retry schedule, who may have which
event, the body, the address rules, Retry-After, and signatures a standard verifier accepts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from app.domain.webhooks.deliveries import RETRY_DELAYS, next_wait
from app.domain.webhooks.endpoints import new_secret
from app.domain.webhooks.fan_out import TakenEvent, may_have, message_body
from app.domain.webhooks.signing import signature_headers
from app.platform.addresses import AddressRefused, check_url, check_url_form, public_address
from app.sources.webhooks import retry_after

AT = datetime(2026, 6, 15, 4, 0, tzinfo=UTC)


def exact(low: float, high: float) -> float:
    return 1.0


def test_the_schedule_is_at_once_then_5s_5min_30min_2h_5h_10h_10h_then_given_up():
    waits = [next_wait(tries, draw=exact) for tries in range(1, 9)]
    assert waits[:-1] == [
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=5),
        timedelta(hours=10),
        timedelta(hours=10),
    ]
    assert waits[-1] is None  # the eighth attempt was the last


def test_jitter_spreads_each_wait_within_ten_percent():
    assert next_wait(2, draw=lambda low, high: low) == RETRY_DELAYS[1] * 0.9
    assert next_wait(2, draw=lambda low, high: high) == RETRY_DELAYS[1] * 1.1


def test_retry_after_lengthens_a_wait_never_shortens_it_and_is_capped_at_a_day():
    assert next_wait(1, timedelta(minutes=10), exact) == timedelta(minutes=10)
    assert next_wait(3, timedelta(seconds=1), exact) == timedelta(minutes=30)
    assert next_wait(1, timedelta(days=30), exact) == timedelta(days=1)


def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after("120", AT) == timedelta(seconds=120)
    assert retry_after("Mon, 15 Jun 2026 04:05:00 GMT", AT) == timedelta(minutes=5)
    assert retry_after("Mon, 15 Jun 2026 03:00:00 GMT", AT) == timedelta(0)
    assert retry_after("soon", AT) is None
    assert retry_after(None, AT) is None


def event(type_: str, *, member=7, unit=None, **payload) -> TakenEvent:
    return TakenEvent(1, type_, member, unit, payload, AT)


def test_a_group_endpoint_may_have_every_event():
    assert may_have(None, event("POINTS_CHANGED"), set(), {})
    assert may_have(None, event("MALL_ORDER_CHANGED", unit=3), set(), {})


def test_a_units_endpoint_has_points_and_tier_events_of_members_presented_to_it_only():
    known = {(7, 2)}
    for type_ in ("POINTS_CHANGED", "POINTS_EXPIRING", "TIER_CHANGED", "TIER_DOWNGRADE_WARNING"):
        assert may_have(2, event(type_, member=7), known, {})
        assert not may_have(3, event(type_, member=7), known, {})
        assert not may_have(2, event(type_, member=8), known, {})


@pytest.mark.parametrize(
    "type_", ["VOUCHER_ISSUED", "VOUCHER_USED", "VOUCHER_RESTORED", "VOUCHER_ENDED"]
)
def test_a_units_endpoint_has_vouchers_it_provides_or_that_were_used_at_it(type_):
    used = event(type_, unit=4, rightId=11)
    providers = {11: 2}
    assert may_have(2, used, set(), providers)  # the provider
    assert may_have(4, used, set(), providers)  # where it was used
    assert not may_have(5, used, {(7, 5)}, providers)  # knowing the member is not enough


def test_a_units_endpoint_has_orders_the_event_names_it_for():
    assert may_have(3, event("MALL_ORDER_CHANGED", unit=3), set(), {})
    assert not may_have(2, event("MALL_ORDER_CHANGED", unit=3), {(7, 2)}, {})


def test_the_body_is_type_timestamp_and_data_with_the_members_sequence():
    body = json.loads(message_body(event("POINTS_CHANGED", points=10), 4))
    assert body == {
        "type": "POINTS_CHANGED",
        "timestamp": AT.isoformat(),
        "data": {"points": 10, "sequence": 4},
    }


def test_a_secret_is_whsec_and_at_least_24_random_bytes():
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(Webhook(secret)._whsecret) >= 24
    assert new_secret() != secret


def test_signatures_verify_with_the_standard_library_under_each_signing_secret():
    old, new = new_secret(), new_secret()
    body = message_body(event("TIER_CHANGED"), 1)
    headers = signature_headers("msg_1", body, [new, old], datetime.now(UTC))
    assert headers["webhook-signature"].count("v1,") == 2
    assert Webhook(new).verify(body, headers)["type"] == "TIER_CHANGED"
    assert Webhook(old).verify(body, headers)["type"] == "TIER_CHANGED"
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body.replace("TIER", "TEAR"), headers)


def test_the_timestamp_is_utc_seconds_whatever_the_zone_given():
    from zoneinfo import ZoneInfo

    moment = datetime(2026, 6, 15, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    headers = signature_headers("msg_1", "{}", [new_secret()], moment)
    assert headers["webhook-timestamp"] == str(int(AT.timestamp()))


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
     "0.0.0.0", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "224.0.0.1"],
)  # fmt: skip
def test_loopback_private_link_local_and_the_like_are_not_public(address):
    assert not public_address(address)


def test_public_addresses_are():
    assert public_address("8.8.8.8")
    assert public_address("2606:4700:4700::1111")


def test_a_url_must_be_https_unless_private_addresses_are_allowed():
    with pytest.raises(AddressRefused, match="https"):
        check_url_form("http://example.com/hook", private_ok=False)
    with pytest.raises(AddressRefused, match="https"):
        check_url_form("ftp://example.com/hook", private_ok=True)
    with pytest.raises(AddressRefused, match="credentials"):
        check_url_form("https://user:pw@example.com/hook", private_ok=False)
    assert check_url_form("http://127.0.0.1:9/hook", private_ok=True) == ("127.0.0.1", 9)
    assert check_url_form("https://example.com/hook", private_ok=False) == ("example.com", 443)


@pytest.mark.parametrize(
    "url",
    ["https://127.0.0.1/hook", "https://localhost/hook", "https://169.254.169.254/latest",
     "https://[::1]/hook", "https://10.0.0.8/hook", "https://[::ffff:10.0.0.8]/hook"],
)  # fmt: skip
async def test_a_url_resolving_to_a_private_address_is_refused(url):
    with pytest.raises(AddressRefused, match="loopback, private or link-local"):
        await check_url(url, private_ok=False)
    await check_url(url, private_ok=True)
