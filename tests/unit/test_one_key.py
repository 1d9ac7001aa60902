"""`one_key`: a statement's array parameter `$1` written as a one-element array."""

from __future__ import annotations

import pytest

from app.graphql.core.loaders import MEMBERS_SQL, TRANSACTIONS_SQL
from app.platform.driver import one_key


def test_any_and_unnest_take_one_element():
    assert "ANY(ARRAY[$1::bigint])" in one_key(MEMBERS_SQL)
    assert "$1::bigint[]" not in one_key(MEMBERS_SQL)
    assert "unnest(ARRAY[$1::bigint])" in one_key(TRANSACTIONS_SQL)
    assert one_key("SELECT 1 WHERE x = ANY($1::int[])") == "SELECT 1 WHERE x = ANY(ARRAY[$1::int])"


def test_other_parameters_are_left_alone():
    sql = "SELECT 1 WHERE a = ANY($1::int[]) AND b = ANY($11::int[]) AND c = $2"
    assert one_key(sql) == (
        "SELECT 1 WHERE a = ANY(ARRAY[$1::int]) AND b = ANY($11::int[]) AND c = $2"
    )


def test_a_statement_without_an_array_parameter_is_refused():
    with pytest.raises(ValueError):
        one_key("SELECT 1 WHERE id = $1")
