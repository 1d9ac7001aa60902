"""Which operation of a document runs, and request errors a websocket answers like HTTP does.

- A document with several operations runs the one `operationName` names; without a name it is
  OPERATION_NAME_REQUIRED (the GraphQL specification's GetOperation: "a request error
  requiring operationName"), never the first one silently. A name that matches no operation
  is UNKNOWN_OPERATION. Both are request errors: nothing runs.
- Over graphql-transport-ws a request error (syntax, validation, variables, the size and
  token limits, the two above) is the operation's `error` message with `extensions.code`, as
  over HTTP; never a silent `complete`, an INTERNAL error or a closed socket.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError, OperationDefinitionNode
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import PreExecutionError

from app.graphql.core.errors import request_error_extensions


def operation_name_required(count: int) -> GraphQLError:
    return GraphQLError(
        f"The document holds {count} operations: name the one to run in `operationName`.",
        extensions={"code": "OPERATION_NAME_REQUIRED"},
    )


def unknown_operation(name: str) -> GraphQLError:
    return GraphQLError(
        f"The document holds no operation named {name!r}.",
        extensions={"code": "UNKNOWN_OPERATION"},
    )


class OneOperationChosen(SchemaExtension):
    """Refuse a document whose operation to run is ambiguous or missing, once it is parsed."""

    def on_parse(self) -> Iterator[None]:
        yield
        context = self.execution_context
        document = context.graphql_document
        if document is None:  # a syntax error, already answered
            return
        names = [
            definition.name.value if definition.name else None
            for definition in document.definitions
            if isinstance(definition, OperationDefinitionNode)
        ]
        # `operation_name` falls back to the first operation's name: read what the client sent
        wanted = getattr(context, "_provided_operation_name", None)
        if wanted is None:
            if len(names) > 1:
                raise operation_name_required(len(names))
        elif wanted not in names:
            raise unknown_operation(wanted)


def coded_request_error(error: GraphQLError) -> GraphQLError:
    """The error as the client should see it: a syntax error with GRAPHQL_PARSE_FAILED, or
    the parser's limit it hit (QUERY_TOO_LARGE, QUERY_TOO_COMPLEX), as a plain GraphQLError,
    which a websocket answers with `error` rather than closing."""
    if isinstance(error, GraphQLSyntaxError):
        return GraphQLError(
            error.message,
            source=error.source,
            positions=error.positions,
            extensions=request_error_extensions(error),
        )
    return error


async def refused(error: GraphQLError) -> AsyncGenerator[Any, None]:
    """A stream whose only result refuses the operation before it starts."""
    yield PreExecutionError(data=None, errors=[coded_request_error(error)])


async def answered_before_start(source: AsyncIterator[Any]) -> AsyncGenerator[Any, None]:
    """`source`, with a GraphQLError raised before its first result (the parser cache parses
    outside Strawberry's error handling on this path) turned into that first result."""
    try:
        try:
            first = await anext(source)
        except StopAsyncIteration:
            return
        except GraphQLError as error:
            yield PreExecutionError(data=None, errors=[coded_request_error(error)])
            return
        yield first
        async for result in source:
            yield result
    finally:
        close = getattr(source, "aclose", None)
        if close is not None:
            await close()
