"""Typed user errors in payloads, and GraphQL errors for missing or insufficient credentials."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError

from app.domain.shared.errors import DomainError, ErrorCode

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
