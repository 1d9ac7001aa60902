"""Ids as callers write them: ASCII digits only, within the range of the column they name.

Python's `str.isdigit` also accepts "١", "０１" and "²" (and `int` reads the first two), and an
id past the column's range makes PostgreSQL (asyncpg) raise instead of finding nothing. So an
id is read here and only here: anything else is "no such id" (None), never an internal error.
"""

from __future__ import annotations

INT32_MAX = 2**31 - 1  # INTEGER columns: members, units, rights, campaigns, ...
INT64_MAX = 2**63 - 1  # BIGINT columns: transactions, lots, flags, ...


def is_ascii_digits(text: str) -> bool:
    """Whether `text` is one or more of 0-9 and nothing else."""
    return text.isascii() and text.isdigit()


def parse_id(text: object, *, big: bool = False) -> int | None:
    """The id `text` names (surrounding blanks ignored), or None when it is not ASCII digits
    or beyond the range of an INTEGER column (BIGINT with `big=True`)."""
    value = str(text).strip()
    if not is_ascii_digits(value) or len(value) > 19:
        return None
    number = int(value)
    return number if number <= (INT64_MAX if big else INT32_MAX) else None
