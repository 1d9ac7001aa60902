"""Member identity without a database: mainland mobile numbers, as stored and as shown."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.members.identity import mask_phone, normalise_phone
from app.domain.shared.errors import DomainError, ErrorCode
from tests.rules.builders import refused, untimed

mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
prefixes = st.sampled_from(["", "+86", "0086", "+86 ", "(+86) "])


def _spread(number: str, separator: str) -> str:
    return separator.join([number[:3], number[3:7], number[7:]])


@untimed
@given(mobiles, prefixes, st.sampled_from(["", " ", "-", " - "]))
def test_a_mobile_number_in_any_usual_form_is_stored_as_eleven_digits(number, prefix, sep):
    assert normalise_phone(prefix + _spread(number, sep)) == number


@pytest.mark.parametrize(
    "raw",
    [
        "",
        None,
        "1381234567",
        "138123456789",
        "12812345678",
        "23812345678",
        "+1 13812345678",
        "138-1234-567x",
        "86 13812345678",
    ],
)
def test_other_numbers_are_refused(raw):
    with refused(ErrorCode.INVALID_INPUT, "phone"):
        normalise_phone(raw)


# Full-width digits come from Chinese input methods; stored as given, the same number
# could register twice beside its ASCII form.
@pytest.mark.parametrize("raw", ["138１２３４５６７８", "138١٢٣٤٥٦٧٨"])
def test_stored_numbers_are_ascii_digits_only(raw):
    try:
        stored = normalise_phone(raw)
    except DomainError:
        return  # refusing the number is as good as converting it
    assert re.fullmatch(r"[0-9]{11}", stored), stored


@untimed
@given(mobiles)
def test_masked_numbers_show_the_first_three_and_last_four(number):
    masked = mask_phone(number)
    assert masked == number[:3] + "****" + number[-4:]


def test_short_values_are_masked_whole():
    assert mask_phone("123456") == "****"
    assert mask_phone("") == "****"
