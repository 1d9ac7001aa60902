"""What the gateway tells its operators about GraphQL traffic.

- `Observability`: Prometheus figures per operation (count, latency, GraphQL errors by
  `extensions.code`, payload user errors by code, open subscriptions), and the operation
  noted on the request's log line.
- `MaskInternalErrors`: an unexpected exception reaches the client as "Internal error." with
  `extensions.code = INTERNAL` and the request id; the log gets the traceback under that id.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any

from graphql import GraphQLError
from redis.exceptions import RedisError
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from app.graphql.core.errors import request_error_code
from app.graphql.core.input_text import invalid_data_error, is_invalid_data
from app.graphql.core.limits import statement_timeout_error
from app.platform.db import closed_before_use, is_statement_timeout
from app.platform.metrics import Metrics
from app.platform.request_log import current_request, new_request_id

log = logging.getLogger("app.graphql")

INTERNAL_MESSAGE = "Internal error."

# User errors of the operation in progress (the task that runs it, and tasks it starts).
_user_errors: ContextVar[list[str] | None] = ContextVar("bmg_user_errors", default=None)


def record_user_errors(errors: Iterable[Any]) -> None:
    """Count the typed errors a mutation is about to return in its payload."""
    codes = _user_errors.get()
    if codes is not None:
        codes.extend(str(getattr(e.code, "value", e.code)) for e in errors)


def is_unexpected(error: GraphQLError) -> bool:
    """An error from an unexpected exception, not a deliberate GraphQL error."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def error_code(error: GraphQLError) -> str:
    """`extensions.code`; INTERNAL for unexpected exceptions; BAD_REQUEST for the rest
    (syntax, validation and variable errors carry no code)."""
    code = (error.extensions or {}).get("code")
    if code:
        return str(code)
    if is_statement_timeout(error.original_error):
        return "STATEMENT_TIMEOUT"
    if is_invalid_data(error.original_error):
        return "INVALID_INPUT"
    if isinstance(error.original_error, RedisError):
        return "UNAVAILABLE"
    if (request_code := request_error_code(error)) is not None:
        return request_code
    return "INTERNAL" if is_unexpected(error) else "BAD_REQUEST"


def _operation_type(execution_context: ExecutionContext) -> str:
    try:
        return execution_context.operation_type.value
    except Exception:  # unparsable document, or no such operation
        return "unknown"


def _metrics_of(execution_context: ExecutionContext) -> Metrics | None:
    services = getattr(execution_context.context, "services", None)
    return getattr(services, "metrics", None)


class Observability(SchemaExtension):
    """Prometheus figures and the request log's operation fields, one operation at a time."""

    def __init__(self, *, execution_context: ExecutionContext | None = None) -> None:
        self.subscribed_as: str | None = None

    def _name(self, metrics: Metrics) -> str:
        return metrics.operation_name(self.execution_context.operation_name)

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        user_errors: list[str] = []
        token = _user_errors.set(user_errors)
        try:
            yield
        finally:
            with contextlib.suppress(ValueError):  # a stream finalised in another task
                _user_errors.reset(token)
            self._operation_done(time.perf_counter() - started, user_errors)

    def on_execute(self) -> Iterator[None]:
        metrics = _metrics_of(self.execution_context)
        if metrics is not None and _operation_type(self.execution_context) == "subscription":
            self.subscribed_as = self._name(metrics)
            metrics.requests.labels(self.subscribed_as, "subscription").inc()
            metrics.subscriptions.labels(self.subscribed_as).inc()
        yield

    def on_stream_result(self, result: Any) -> Iterator[None]:
        metrics = _metrics_of(self.execution_context)
        if self.subscribed_as is not None and metrics is not None:
            self._count_errors(metrics, self.subscribed_as, getattr(result, "errors", None))
        yield

    def _operation_done(self, seconds: float, user_errors: list[str]) -> None:
        metrics = _metrics_of(self.execution_context)
        if metrics is None:
            return
        name, kind = self._name(metrics), _operation_type(self.execution_context)
        request = current_request()
        if request is not None:
            request.note_operation(name, kind)
            request.note_errors(user_errors, user=True)
        if self.subscribed_as is not None:
            metrics.subscriptions.labels(self.subscribed_as).dec()
            return  # errors were counted result by result; a subscription's life is not timed
        metrics.requests.labels(name, kind).inc()
        metrics.latency.labels(name, kind).observe(seconds)
        for code in user_errors:
            metrics.user_errors.labels(name, code).inc()
        result = self.execution_context.result
        errors = getattr(result, "errors", None) or self.execution_context.pre_execution_errors
        self._count_errors(metrics, name, errors)

    @staticmethod
    def _count_errors(metrics: Metrics, name: str, errors: list[GraphQLError] | None) -> None:
        codes = [error_code(e) for e in errors or ()]
        for code in codes:
            metrics.errors.labels(name, code).inc()
        request = current_request()
        if request is not None and codes:
            request.note_errors(codes)


class MaskInternalErrors(MaskErrors):
    """Hide unexpected exceptions from clients; log them with the request id."""

    def __init__(self, *, execution_context: ExecutionContext | None = None) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message=INTERNAL_MESSAGE)

    def _may_run_again(self, context: Any) -> bool:
        """A query (never a mutation: it may have written) not already run a second time."""
        execution = self.execution_context
        return (
            execution.operation_type == OperationType.QUERY
            and hasattr(context, "read_on_dead_connection")
            and not context.retrying
        )

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        context = self.execution_context.context
        request_id = getattr(context, "request_id", "") or new_request_id()
        original = error.original_error
        if is_statement_timeout(original):
            return statement_timeout_error(error, request_id)
        if isinstance(original, RedisError):  # down, hung past REDIS_TIMEOUT_SECONDS, pool full
            log.warning("Redis unavailable: %r", original, extra={"request_id": request_id})
            return GraphQLError(
                "A service the gateway needs is unavailable for a moment; try again.",
                nodes=error.nodes,
                path=error.path,
                extensions={"code": "UNAVAILABLE", "requestId": request_id},
            )
        if closed_before_use(original) and self._may_run_again(context):
            # nothing was sent: the query runs again on a fresh connection (GatewaySchema),
            # and this answer is dropped
            log.warning(
                "a read found its pooled connection closed; running it again",
                extra={"request_id": request_id},
            )
            context.read_on_dead_connection = True
        if is_invalid_data(original):
            log.info("invalid data refused by the database: %s", type(original).__name__)
            return invalid_data_error(error, request_id)
        log.error(
            "unexpected error in %s",
            self.execution_context.operation_name or "anonymous operation",
            exc_info=(type(original), original, original.__traceback__) if original else None,
            extra={
                "request_id": request_id,
                "operation": self.execution_context.operation_name,
                "field_path": ".".join(str(p) for p in error.path or ()),
            },
        )
        return GraphQLError(
            message=self.error_message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions={"code": "INTERNAL", "requestId": request_id},
        )
