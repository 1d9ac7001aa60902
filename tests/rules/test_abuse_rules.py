"""Anti-abuse pieces that need neither Redis nor a database: the policy read from the
environment, holds on pending points, device references, window keys and event ids."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.abuse.screening import EarnScreen, Screening, device_reference
from app.domain.abuse.velocity import Window, millis, new_entry
from app.domain.shared.errors import ErrorCode
from app.settings import AbusePolicy
from tests.rules.builders import NOW, refused, untimed


def test_policy_defaults_without_environment():
    assert AbusePolicy.from_env({}) == AbusePolicy()
    assert AbusePolicy.from_env({"ABUSE_MEMBER_EARN_LIMIT": "  "}) == AbusePolicy()
    assert AbusePolicy().refund_loop_hold_days == 0  # flag only, by default
    assert AbusePolicy().redis_down == "allow"  # fail open, by default


@untimed
@given(
    st.fixed_dictionaries(
        {}, optional={n: st.integers(0, 10**6) for n in asdict(AbusePolicy()) if n != "redis_down"}
    )
)
def test_policy_reads_every_limit_from_its_variable(limits):
    environ = {f"ABUSE_{name.upper()}": f" {value} " for name, value in limits.items()}
    policy = AbusePolicy.from_env(environ)
    assert asdict(policy) == asdict(AbusePolicy()) | limits


@pytest.mark.parametrize(
    ("raw", "expected"), [("deny", "deny"), (" DENY ", "deny"), ("Allow", "allow")]
)
def test_policy_redis_down(raw, expected):
    assert AbusePolicy.from_env({"ABUSE_REDIS_DOWN": raw}).redis_down == expected


@pytest.mark.parametrize(
    "environ",
    [
        {"ABUSE_REDIS_DOWN": "block"},
        {"ABUSE_MEMBER_EARN_LIMIT": "ten"},
        {"ABUSE_DEVICE_EARN_LIMIT": "1.5"},
    ],
)
def test_policy_refuses_bad_values(environ):
    with pytest.raises(ValueError):
        AbusePolicy.from_env(environ)


moments = st.none() | st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
)


@untimed
@given(moments, moments)
def test_a_hold_only_ever_extends_the_pending_period(default, hold):
    until = Screening(hold_until=hold).pending_until(default)
    if hold is None:
        assert until == default
    elif default is None:
        assert until == hold
    else:
        assert until == max(default, hold)


def test_hold_examples():
    return_window = NOW + timedelta(days=7)
    assert (
        Screening(hold_until=NOW + timedelta(days=3)).pending_until(return_window) == return_window
    )
    assert Screening(hold_until=NOW + timedelta(days=9)).pending_until(return_window) == (
        NOW + timedelta(days=9)
    )
    assert Screening().pending_until(None) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, None), ("", None), ("   ", None), (" till-7 ", "till-7"), ("d" * 64, "d" * 64)],
)
def test_device_reference(raw, expected):
    assert device_reference(raw) == expected


def test_device_reference_refuses_long_ids():
    with refused(ErrorCode.INVALID_INPUT, "deviceId"):
        device_reference("d" * 65)


def test_window_keys_and_event_ids():
    screen = EarnScreen(redis=None, prefix="bmg:")
    assert screen.key("member", 42) == "bmg:abuse:member:42"
    assert Window("k", limit=20, seconds=3600).millis == 3_600_000
    assert millis(datetime(1970, 1, 1, 0, 0, 1, 500_000, tzinfo=UTC)) == 1_500
    # two events in the same millisecond are two entries, each stamped with that millisecond
    first, second = new_entry(NOW), new_entry(NOW)
    assert first != second
    assert first.split("-")[0] == second.split("-")[0] == str(millis(NOW))
