"""Limits that need the request: the query's cost and the caller's budget, the request timeout,
and database statement timeouts answered with a code of their own.

- `QueryCost` prices the operation (app/graphql/core/cost.py; a subscription once, when it
  starts) once variables are known, refuses it above `max_query_cost` (QUERY_TOO_COSTLY), then
  pours the cost into the caller's leaky bucket (app/platform/budget.py) and refuses it when it
  does not fit (THROTTLED, with retryAfter).
  A refused operation runs no resolver. The response's `extensions.cost` reports the price and
  what is left of the budget. When Redis cannot be asked the request goes through unmetered
  (fail open): the cost limit still holds, a warning is logged and
  `bmg_graphql_budget_unavailable_total` counts it — Redis trouble must not take the tills
  down with it.
- `within_request_timeout` stops a query or mutation that runs past `request_timeout_seconds`
  (TIMEOUT), with the DataLoader batches it had started (their reads are cancelled too). A
  stopped mutation rolls its transaction back unless COMMIT had already been sent: the client
  retries with the same idempotency key, which answers either way.
- `statement_timeout_error` is what a statement cancelled by PostgreSQL's `statement_timeout`
  becomes instead of a masked INTERNAL error (STATEMENT_TIMEOUT).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable
from typing import Any

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError, parse
from graphql.execution.values import get_variable_values
from redis.exceptions import RedisError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from app.graphql.core.cost import QueryCostError, query_cost, select_operation
from app.graphql.core.loaders import batches_of_this_request, cancel_batches
from app.platform.budget import BucketSpec
from app.platform.request_log import current_request, new_request_id

log = logging.getLogger("app.graphql.core.limits")

BUDGET_WAIT_SECONDS = 0.5  # longest wait for Redis before letting the request through


def caller_of(context: Any) -> tuple[str, str]:
    """(kind, bucket name): the member, operator or partner key; anonymous callers by IP."""
    principal = getattr(context, "principal", None)
    if principal is not None:
        return principal.kind, principal.caller
    client = getattr(getattr(context, "request", None), "client", None)
    return "anonymous", f"ip:{getattr(client, 'host', None) or 'unknown'}"


def bucket_spec(settings: Any, kind: str) -> BucketSpec | None:
    """The caller's bucket; None when budgets are off (capacity 0). A partner key serves all
    the tills of a unit, so its bucket is `query_budget_partner_factor` times larger."""
    capacity = settings.query_budget_capacity
    if capacity <= 0 or settings.query_budget_leak_per_second <= 0:
        return None
    factor = max(1, settings.query_budget_partner_factor) if kind == "partner" else 1
    return BucketSpec(
        capacity=capacity * factor, leak_per_second=settings.query_budget_leak_per_second * factor
    )


def too_costly(cost: int, limit: int) -> GraphQLError:
    return GraphQLError(
        f"This query costs {cost}, more than the limit of {limit}: ask for fewer items "
        "(smaller `first`) or fewer nested lists.",
        extensions={"code": "QUERY_TOO_COSTLY", "cost": cost, "limit": limit},
    )


def throttled(cost: int, remaining: int, retry_after: int) -> GraphQLError:
    return GraphQLError(
        f"Query budget spent: this query costs {cost}, {remaining} is left; "
        f"retry in {retry_after} s.",
        extensions={
            "code": "THROTTLED",
            "retryAfter": retry_after,
            "cost": cost,
            "remaining": remaining,
        },
    )


_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def hide_suggestions(errors: list[GraphQLError]) -> None:
    """Strip "Did you mean ...?" from error messages: graphql-core suggests the names of
    fields, arguments, types, enum values and input fields, which would map the schema for a
    caller while introspection is off (Strawberry's `disable_field_suggestions` covers fields
    only)."""
    for error in errors:
        if "Did you mean" in error.message:
            error.message = _SUGGESTION.sub("", error.message)


def _metrics(context: Any) -> Any:
    return getattr(getattr(context, "services", None), "metrics", None)


class QueryCost(SchemaExtension):
    """Price each operation, refuse it above the limit or the caller's budget, and report
    `extensions.cost`. A subscription is priced once, when it starts (its updates are not
    charged again): opening and reopening subscriptions spends the budget like queries do."""

    def __init__(self, *, execution_context: ExecutionContext | None = None) -> None:
        self.report: dict[str, Any] | None = None

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        settings = getattr(execution.context, "settings", None)
        if settings is not None:
            refusal = await self._refusal(settings)
            if refusal is not None:
                if execution.operation_type == OperationType.SUBSCRIPTION:
                    # a subscription is not stopped by a result: an error raised here ends
                    # it with this error before its resolver starts
                    raise refusal
                execution.result = GraphQLExecutionResult(data=None, errors=[refusal])
        yield

    def get_results(self) -> dict[str, Any]:
        return {"cost": self.report} if self.report is not None else {}

    async def _refusal(self, settings: Any) -> GraphQLError | None:
        cost = self._price()
        if cost is None:
            return None
        limit = settings.max_query_cost
        self.report = {"requested": cost, "limit": limit}
        if cost > limit:
            return too_costly(cost, limit)
        return await self._charge(settings, cost)

    def _price(self) -> int | None:
        """The cost, or None when the variables do not fit the operation (execution says
        why, before any resolver runs)."""
        execution = self.execution_context
        document = execution.graphql_document
        schema = execution.schema._schema
        try:
            operation = select_operation(document, execution.operation_name)
            variables = get_variable_values(
                schema, operation.variable_definitions or (), execution.variables or {}
            )
            if isinstance(variables, list):
                return None
            coerced = getattr(variables, "coerced", variables)  # graphql-core 3.3 wraps them
            return query_cost(
                schema, document, operation_name=execution.operation_name, variables=coerced
            )
        except QueryCostError:
            return None
        except Exception:  # a bug in pricing must not take every request down with it
            log.exception("could not price the operation; running it unpriced")
            return None

    async def _charge(self, settings: Any, cost: int) -> GraphQLError | None:
        context = self.execution_context.context
        kind, caller = caller_of(context)
        spec = bucket_spec(settings, kind)
        if spec is None or self.report is None or getattr(context, "retrying", False):
            return None  # (a query run again after a dead connection was charged once)
        budget = context.services.budget  # one per worker: its Lua script registered once
        try:
            async with asyncio.timeout(BUDGET_WAIT_SECONDS):
                pour = await budget.pour(caller=caller, cost=cost, spec=spec, now=context.now())
        except (RedisError, OSError, TimeoutError) as error:
            log.warning(
                "query budget unavailable (%s): request let through unmetered",
                type(error).__name__,
                extra={"request_id": getattr(context, "request_id", None)},
            )
            metrics = _metrics(context)
            if metrics is not None:
                metrics.budget_unavailable.inc()
            self.report["budget"] = None
            return None
        self.report["budget"] = {
            "capacity": spec.capacity,
            "remaining": pour.remaining,
            "leakPerSecond": spec.leak_per_second,
        }
        if pour.admitted:
            return None
        metrics = _metrics(context)
        if metrics is not None:
            metrics.throttled.labels(kind).inc()
        response = getattr(context, "response", None)
        streaming = self.execution_context.operation_type == OperationType.SUBSCRIPTION
        if response is not None and hasattr(response, "headers") and not streaming:
            response.headers["Retry-After"] = str(pour.retry_after_seconds)
        return throttled(cost, pour.remaining, pour.retry_after_seconds)


def _operation_name(query: str | None, operation_name: str | None) -> str | None:
    """The name the client gave, or the one in the document (parsed again: timeouts only)."""
    if operation_name or not query:
        return operation_name
    try:
        operation = select_operation(parse(query), None)
    except (GraphQLError, QueryCostError):
        return None
    return operation.name.value if operation.name else None


async def within_request_timeout(
    run: Awaitable[ExecutionResult],
    *,
    context: Any,
    query: str | None,
    operation_name: str | None,
) -> ExecutionResult:
    """The operation's result, or a TIMEOUT error once it ran `request_timeout_seconds`."""
    settings = getattr(context, "settings", None)
    seconds = getattr(settings, "request_timeout_seconds", 0) or 0
    if seconds <= 0:
        return await run
    with batches_of_this_request() as batches:
        try:
            async with asyncio.timeout(seconds):
                return await run
        except TimeoutError:
            await cancel_batches(batches)  # the reads its DataLoaders had started
    request_id = getattr(context, "request_id", "") or new_request_id()
    operation_name = _operation_name(query, operation_name)
    log.warning(
        "operation %s stopped after %s s",
        operation_name or "anonymous",
        seconds,
        extra={"request_id": request_id, "operation": operation_name},
    )
    metrics = _metrics(context)
    if metrics is not None:
        metrics.errors.labels(metrics.operation_name(operation_name), "TIMEOUT").inc()
    record = current_request()
    if record is not None:
        record.note_errors(["TIMEOUT"])
    error = GraphQLError(
        f"The request took longer than {seconds:g} s and was stopped. A mutation may or "
        "may not have been recorded: retry it with the same idempotency key.",
        extensions={"code": "TIMEOUT", "requestId": request_id},
    )
    return ExecutionResult(data=None, errors=[error])


def statement_timeout_error(error: GraphQLError, request_id: str) -> GraphQLError:
    """A statement PostgreSQL cancelled for running too long, as the client sees it."""
    log.warning(
        "database statement timeout at %s",
        ".".join(str(p) for p in error.path or ()) or "operation",
        extra={"request_id": request_id},
    )
    return GraphQLError(
        "The database took too long to answer and the statement was cancelled; try again "
        "or ask for less.",
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions={"code": "STATEMENT_TIMEOUT", "requestId": request_id},
    )
