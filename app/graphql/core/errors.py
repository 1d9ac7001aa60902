"""Typed user errors in payloads, and GraphQL errors for missing or insufficient credentials."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError, GraphQLSyntaxError

from app.domain.shared.errors import DomainError, ErrorCode
from app.graphql.core.shape_limits import syntax_limit

strawberry.enum(ErrorCode, name="UserErrorCode")


@strawberry.type
class UserError:
    code: ErrorCode
    message: str
    field: str | None = None


def user_error(error: DomainError) -> UserError:
    return UserError(code=error.code, message=error.message, field=error.field)


def unauthenticated() -> GraphQLError:
    return GraphQLError("Authentication required.", extensions={"code": "UNAUTHENTICATED"})


def forbidden(message: str = "Not allowed.") -> GraphQLError:
    return GraphQLError(message, extensions={"code": "FORBIDDEN"})


def not_found(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "NOT_FOUND"})


def domain_graphql_error(error: DomainError) -> GraphQLError:
    """For queries, which have no payload: the domain error as a GraphQL error with its code."""
    return GraphQLError(error.message, extensions={"code": error.code.value, "field": error.field})


def request_error_code(error: GraphQLError) -> str | None:
    """The code of an error graphql-core raised about the request itself, which carries none:
    GRAPHQL_PARSE_FAILED (syntax), BAD_USER_INPUT (a variable of the wrong type or shape),
    GRAPHQL_VALIDATION_FAILED (the document does not fit the schema), QUERY_TOO_LARGE or
    QUERY_TOO_COMPLEX (the parser's token or nesting limit); None for the others."""
    if (error.extensions or {}).get("code") or error.path:
        return None
    if error.message.startswith("Variable '$"):  # also a scalar's coercion error
        return "BAD_USER_INPUT"
    if error.original_error is not None:
        return None
    if isinstance(error, GraphQLSyntaxError):
        limit = syntax_limit(error)
        return limit["code"] if limit is not None else "GRAPHQL_PARSE_FAILED"
    return "GRAPHQL_VALIDATION_FAILED"


def request_error_extensions(error: GraphQLError) -> dict[str, Any] | None:
    """What `request_error_code` names, as the error's extensions: the parser's limits
    (QUERY_TOO_LARGE, QUERY_TOO_COMPLEX) also say which limit and its value."""
    code = request_error_code(error)
    if code is None:
        return None
    limit = syntax_limit(error) if isinstance(error, GraphQLSyntaxError) else None
    return {**(error.extensions or {}), **(limit or {"code": code})}


def add_request_error_codes(errors: list[GraphQLError]) -> None:
    """Give parse, validation and variable errors their `extensions.code`."""
    for error in errors:
        extensions = request_error_extensions(error)
        if extensions is not None:
            error.extensions = extensions
