"""The one Strawberry schema: feature modules merged, protective extensions on."""

from __future__ import annotations

from functools import partial

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from app.graphql.members import MemberMutation, MemberQuery
from app.graphql.org import OrgQuery
from app.graphql.points import PointsMutation, PointsQuery

Query = merge_types("Query", (MemberQuery, OrgQuery, PointsQuery))
Mutation = merge_types("Mutation", (MemberMutation, PointsMutation))


def is_unexpected(error: GraphQLError) -> bool:
    """Mask only errors that came from an unexpected exception, not deliberate GraphQL errors."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def build_schema(*, introspection: bool = True) -> strawberry.Schema:
    extensions = [
        partial(QueryDepthLimiter, max_depth=10),
        partial(MaxAliasesLimiter, max_alias_count=30),
        partial(MaxTokensLimiter, max_token_count=2000),
        partial(ParserCache, maxsize=256),
        partial(ValidationCache, maxsize=256),
        partial(MaskErrors, should_mask_error=is_unexpected, error_message="Internal error."),
    ]
    if not introspection:
        from strawberry.extensions import DisableIntrospection

        extensions.append(DisableIntrospection)
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=True),
    )


schema = build_schema()
