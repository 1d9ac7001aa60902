"""Input the database cannot hold is the caller's mistake: INVALID_INPUT, never INTERNAL.

- `RefuseUnstorableText` refuses an operation, before anything runs, when any string in its
  variables or its document holds a NUL character (PostgreSQL text cannot store one) or a
  lone UTF-16 surrogate (JSON's "\\ud800": no UTF-8 encoding exists).
- `is_invalid_data` recognises what is left for the database (or asyncpg) to refuse: a string
  longer than its column, a number past its column's range, any SQLSTATE class 22 "data
  exception"; MaskInternalErrors answers those INVALID_INPUT instead of INTERNAL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, StringValueNode, visit
from graphql.language import Visitor
from strawberry.extensions import SchemaExtension

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_DATA_EXCEPTION_CLASS = "22"


def invalid_text_error(where: str) -> GraphQLError:
    return GraphQLError(
        f"{where} holds a NUL character or an unpaired surrogate, which cannot be stored.",
        extensions={"code": "INVALID_INPUT"},
    )


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def has_unstorable_text(value: Any) -> bool:
    """Whether any string in `value` (nested dicts and lists too) cannot be stored."""
    return any(_UNSTORABLE.search(text) for text in _strings(value))


class _StringLiterals(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        if _UNSTORABLE.search(node.value):
            self.found = True


class RefuseUnstorableText(SchemaExtension):
    """INVALID_INPUT for NUL characters or lone surrogates in variables or string literals."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if has_unstorable_text(context.variables) or has_unstorable_text(context.operation_name):
            raise invalid_text_error("A variable")
        document = context.graphql_document
        if document is not None:
            literals = _StringLiterals()
            visit(document, literals)
            if literals.found:
                raise invalid_text_error("A string argument")
        yield


def is_invalid_data(error: BaseException | None) -> bool:
    """Whether `error` (or what it wraps) is the database or its driver refusing a value: a
    SQLSTATE 22xxx data exception (too long, out of range, bad encoding), asyncpg refusing to
    encode an argument (out of int32/int64 range), or text that cannot be encoded."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        sqlstate = getattr(error, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_DATA_EXCEPTION_CLASS):
            return True
        if type(error).__name__ == "DataError" and "asyncpg" in type(error).__module__:
            return True  # asyncpg's client-side "invalid input for query argument"
        if isinstance(error, UnicodeEncodeError | OverflowError):
            return True
        error = getattr(error, "orig", None) or error.__cause__
    return False


def invalid_data_error(error: GraphQLError, request_id: str) -> GraphQLError:
    return GraphQLError(
        "A value is too long or out of range for what it names.",
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={"code": "INVALID_INPUT", "requestId": request_id},
    )
