"""The document's shape limits answered with codes of their own, not as ordinary syntax or
validation errors: a client (and the request log's metrics) can tell "your document is broken"
from "your document is too big for this gateway", and only the second is fixed by asking less.

- QUERY_TOO_LARGE: the document is longer, or has more comments, than MAX_QUERY_TOKENS allows
  before it is lexed (app/graphql/core/request_body.py), or the parser met more than
  MAX_QUERY_TOKENS tokens (`reason: TOKENS`, `limit`).
- QUERY_TOO_COMPLEX: the operation is deeper than MAX_QUERY_DEPTH (`reason: DEPTH`), has more
  aliases than MAX_QUERY_ALIASES (`reason: ALIASES`), each with its `limit`, or nests deeper
  than the parser accepts at all (`reason: NESTING`).
- QUERY_TOO_COSTLY (app/graphql/core/limits.py) prices what is left.

All are request errors: HTTP 200 with `data: null`, or HTTP 400 without `data` under
`application/graphql-response+json`, as a syntax error is; over a websocket, the operation's
`error` message.
"""

from __future__ import annotations

import re
from typing import Any, cast

from graphql import GraphQLError, GraphQLSyntaxError, ValidationContext, ValidationRule

TOO_LARGE = "QUERY_TOO_LARGE"
TOO_COMPLEX = "QUERY_TOO_COMPLEX"

# graphql-core raises these as plain syntax errors; its messages are the only mark they carry.
_TOKENS = re.compile(r"Document contains more than (\d+) tokens\.")
_NESTING = "Document is nested too deeply."


def syntax_limit(error: GraphQLSyntaxError) -> dict[str, Any] | None:
    """The extensions of a syntax error that is the parser's token or nesting limit; None for
    a document that is simply not GraphQL."""
    message = error.message
    if (tokens := _TOKENS.search(message)) is not None:
        return {"code": TOO_LARGE, "reason": "TOKENS", "limit": int(tokens.group(1))}
    if _NESTING in message:
        return {"code": TOO_COMPLEX, "reason": "NESTING"}
    return None


class _Coding:
    """A validation context whose reported errors carry `extensions`; everything else is the
    wrapped context's (the limiters read the document and fragments through it)."""

    def __init__(self, context: ValidationContext, extensions: dict[str, Any]) -> None:
        self._context = context
        self._extensions = extensions

    def report_error(self, error: GraphQLError) -> None:
        error.extensions = {**(error.extensions or {}), **self._extensions}
        self._context.report_error(error)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def coded_rule(
    rule: type[ValidationRule], *, reason: str, limit: int, code: str = TOO_COMPLEX
) -> type[ValidationRule]:
    """`rule` (one of Strawberry's limiters), its refusals coded `code` with `reason` and the
    `limit` they exceed."""
    extensions = {"code": code, "reason": reason, "limit": limit}

    class Coded(rule):  # type: ignore[valid-type,misc]
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(cast(ValidationContext, _Coding(context, extensions)))

    Coded.__name__ = f"Coded{rule.__name__}"
    return Coded
