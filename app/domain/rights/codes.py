"""Voucher codes: unguessable, easy to read aloud and type, and checked before any lookup.

- 12 characters drawn with `secrets` from an alphabet of 31 without look-alikes (no I, O, Z, 0,
  1): about 59 bits, so guessing a live code takes billions of tries, which the till's lookup
  throttles long before.
- A 13th, check character makes the weighted sum of all 13 values zero modulo 31 (weights 1 to
  13). Because 31 is prime and the weights are non-zero and differ by one between neighbours,
  any single mistyped character changes the sum by weight x difference (not a multiple of 31),
  and any swap of two different neighbours changes it by their difference: both are caught
  before the database is asked (ISO/IEC 7064's idea, with a prime alphabet).
- Shown in groups of four for people (`ABCD-EFGH-JKLM-N`); input is read with spaces, dashes
  and lower case forgiven.
"""

from __future__ import annotations

import secrets

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXY23456789"  # 31 symbols, a prime: see the module docstring
MODULUS = len(ALPHABET)
BODY_LENGTH = 12
LENGTH = BODY_LENGTH + 1
_VALUE = {symbol: value for value, symbol in enumerate(ALPHABET)}


def check_symbol(body: str) -> str:
    """The check character that makes `body` + it a valid code."""
    total = sum(weight * _VALUE[symbol] for weight, symbol in enumerate(body, start=1))
    weight = len(body) + 1
    # weight x check == -total (mod 31); 31 is prime, so the weight has an inverse
    return ALPHABET[(-total * pow(weight, -1, MODULUS)) % MODULUS]


def new_code() -> str:
    """A fresh code: 12 random characters and the check character."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(BODY_LENGTH))
    return body + check_symbol(body)


def normalise(raw: str) -> str | None:
    """The code as stored (upper case, no spaces or dashes) if it is well formed and its check
    character agrees; None for anything else (a mistyped code is never looked up)."""
    code = "".join((raw or "").split()).replace("-", "").upper()
    if len(code) != LENGTH or any(symbol not in _VALUE for symbol in code):
        return None
    total = sum(weight * _VALUE[symbol] for weight, symbol in enumerate(code, start=1))
    return code if total % MODULUS == 0 else None


def shown(code: str) -> str:
    """For people: groups of four separated by dashes."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))
