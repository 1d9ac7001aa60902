"""Voucher codes (app.domain.rights.codes): every single mistyped character and every swap of
different neighbours is caught by the check character; codes do not collide."""

from __future__ import annotations

import itertools
import os

from hypothesis import given
from hypothesis import strategies as st

from app.domain.rights.codes import (
    ALPHABET,
    BODY_LENGTH,
    LENGTH,
    check_symbol,
    new_code,
    normalise,
    shown,
)
from tests.rules.builders import untimed

bodies = st.text(alphabet=ALPHABET, min_size=BODY_LENGTH, max_size=BODY_LENGTH)


def test_the_alphabet_has_no_look_alikes_and_a_prime_size():
    assert not set("IOZ01") & set(ALPHABET)
    assert len(set(ALPHABET)) == len(ALPHABET) == 31
    assert all(31 % d for d in range(2, 31))


def test_new_codes_are_valid_and_read_back_as_shown():
    for _ in range(200):
        code = new_code()
        assert len(code) == LENGTH >= 12
        assert normalise(code) == code
        assert normalise(shown(code)) == code
        assert normalise(" " + shown(code).lower() + " ") == code


@untimed
@given(bodies)
def test_every_single_substitution_is_caught(body):
    code = body + check_symbol(body)
    for position, symbol in itertools.product(range(LENGTH), ALPHABET):
        if symbol != code[position]:
            typo = code[:position] + symbol + code[position + 1 :]
            assert normalise(typo) is None, (code, typo)


@untimed
@given(bodies)
def test_every_swap_of_different_neighbours_is_caught(body):
    code = body + check_symbol(body)
    for position in range(LENGTH - 1):
        left, right = code[position], code[position + 1]
        if left != right:
            swapped = code[:position] + right + left + code[position + 2 :]
            assert normalise(swapped) is None, (code, swapped)


@given(st.text(max_size=20))
def test_anything_else_is_refused_without_an_error(raw):
    result = normalise(raw)
    assert result is None or (len(result) == LENGTH and set(result) <= set(ALPHABET))


# A million codes on a developer's machine (about 20 s here); CI draws a hundred thousand,
# which keeps the suite fast and would already show a broken generator (codes carry ~59 bits:
# a collision among a million is expected about once in 1.6 million runs of this test).
SAMPLE = int(os.environ.get("VOUCHER_CODE_SAMPLE") or (100_000 if os.environ.get("CI") else 10**6))


def test_codes_do_not_collide():
    drawn = {new_code() for _ in range(SAMPLE)}
    assert len(drawn) == SAMPLE
