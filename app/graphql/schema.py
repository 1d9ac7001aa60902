"""The one Strawberry schema: feature modules merged, protective extensions on."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from app.graphql.abuse.schema import AbuseMutation, AbuseQuery
from app.graphql.campaigns.schema import CampaignMutation, CampaignQuery
from app.graphql.core.catalogue import CATALOGUE
from app.graphql.core.context import FreshLoaders
from app.graphql.core.descriptions import describe
from app.graphql.core.errors import add_request_error_codes
from app.graphql.core.input_text import RefuseUnstorableText
from app.graphql.core.limits import QueryCost, hide_suggestions, within_request_timeout
from app.graphql.core.observability import MaskInternalErrors, Observability, is_unexpected
from app.graphql.core.operations import OneOperationChosen, answered_before_start, refused
from app.graphql.core.request_body import document_too_large
from app.graphql.core.scalars import SCALAR_OVERRIDES
from app.graphql.core.shape_limits import coded_rule
from app.graphql.engagement.schema import ActivityMutation, ActivityQuery
from app.graphql.figures.schema import FiguresQuery
from app.graphql.ledger.live import PointsSubscription
from app.graphql.mall.schema import MallMutation, MallQuery
from app.graphql.members.schema import MemberMutation, MemberQuery
from app.graphql.operator_log.schema import OperationsQuery
from app.graphql.organisation.schema import OrgQuery
from app.graphql.rights.schema import RightsMutation, RightsQuery
from app.graphql.settlement.schema import SettlementMutation, SettlementQuery
from app.graphql.sign_in.schema import SignInMutation, SignInQuery
from app.graphql.tiers.schema import TierMutation, TierQuery
from app.graphql.till.schema import PointsMutation, PointsQuery
from app.graphql.webhooks.schema import WebhooksMutation, WebhooksQuery

Query = merge_types(
    "Query",
    (
        MemberQuery,
        OrgQuery,
        PointsQuery,
        TierQuery,
        OperationsQuery,
        ActivityQuery,
        AbuseQuery,
        CampaignQuery,
        RightsQuery,
        WebhooksQuery,
        SignInQuery,
        SettlementQuery,
        FiguresQuery,
        MallQuery,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        MemberMutation,
        PointsMutation,
        TierMutation,
        ActivityMutation,
        AbuseMutation,
        CampaignMutation,
        RightsMutation,
        WebhooksMutation,
        SignInMutation,
        SettlementMutation,
        MallMutation,
    ),
)
Subscription = merge_types("Subscription", (PointsSubscription,))

__all__ = ["build_schema", "is_unexpected", "schema"]


class GatewaySchema(strawberry.Schema):
    max_tokens = 2000  # MAX_QUERY_TOKENS, which also bounds the document before it is lexed

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """Run a query or mutation, stopped after the request timeout. Subscriptions are served
        over graphql-transport-ws only (Schema.stream), never as one-shot HTTP requests: those
        get HTTP 400."""
        if isinstance(query, str) and (refusal := document_too_large(query, self.max_tokens)):
            return ExecutionResult(data=None, errors=[refusal])
        allowed = set(allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES)

        async def once() -> ExecutionResult:
            return await super(GatewaySchema, self).execute(
                query,
                variable_values,
                context_value,
                root_value,
                operation_name,
                allowed - {OperationType.SUBSCRIPTION},
                operation_extensions,
            )

        async def run() -> ExecutionResult:
            result = await once()
            if getattr(context_value, "read_on_dead_connection", False):
                # A query's statement found its pooled connection closed before sending
                # anything (the pool retires every older connection then): run it once more
                # on a fresh one. Never a mutation (MaskInternalErrors decides), never twice.
                context_value.read_on_dead_connection = False
                context_value.retrying = True
                context_value.refresh_loaders()  # the failed loads are cached in the old ones
                result = await once()
            return result

        return await within_request_timeout(
            run(), context=context_value, query=query, operation_name=operation_name
        )

    async def stream(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
    ) -> Any:
        """Run an operation sent over a websocket: the same size and token limits as over
        HTTP, and a request error is the operation's first (and only) result, which the
        websocket answers with an `error` message (app/graphql/core/operations.py)."""
        if isinstance(query, str) and (refusal := document_too_large(query, self.max_tokens)):
            return refused(refusal)
        source = await super().stream(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            operation_extensions,
            allowed_operation_types,
        )
        return answered_before_start(source)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log nothing here: unexpected errors are logged with the request id where they are
        masked (MaskInternalErrors); the others are answers to the client, counted in metrics."""
        hide_suggestions(errors)
        add_request_error_codes(errors)


def build_schema(
    *,
    introspection: bool = True,
    max_depth: int = 10,
    max_aliases: int = 30,
    max_tokens: int = 2000,
) -> strawberry.Schema:
    # The limiters build their rule classes per instance, which would make every request miss
    # the validation cache (keyed by the rule classes): build them once, add them per request.
    # Their refusals carry QUERY_TOO_COMPLEX (app/graphql/core/shape_limits.py).
    limits = [
        *(
            coded_rule(rule, reason="DEPTH", limit=max_depth)
            for rule in QueryDepthLimiter(max_depth=max_depth).validation_rules
        ),
        *(
            coded_rule(rule, reason="ALIASES", limit=max_aliases)
            for rule in MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules
        ),
    ]
    extensions = [
        partial(AddValidationRules, limits),
        partial(MaxTokensLimiter, max_token_count=max_tokens),
        partial(ParserCache, maxsize=256),
        partial(ValidationCache, maxsize=256),
        OneOperationChosen,
        RefuseUnstorableText,
        MaskInternalErrors,
        Observability,
        FreshLoaders,
        QueryCost,
    ]
    if not introspection:
        from strawberry.extensions import DisableIntrospection

        extensions.append(DisableIntrospection)
    built = GatewaySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=True),
        scalar_overrides=SCALAR_OVERRIDES,
    )
    built.max_tokens = max_tokens
    describe(built._schema, CATALOGUE)  # every element described: app.graphql.core.descriptions
    return built


schema = build_schema()
