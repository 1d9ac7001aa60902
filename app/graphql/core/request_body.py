"""What a request body may be before GraphQL reads it: a 4xx, never a 500 or a stalled worker.

- At most `max_request_bytes` (MAX_REQUEST_BYTES, 1 MiB): a larger `Content-Length` is refused
  with 413 before anything is read, and a body that grows past it while streaming (chunked) is
  refused as soon as it does, so no worker ever holds more than that.
- UTF-8 JSON: bytes that are not UTF-8 are 400, and so is JSON nested so deep that decoding
  it would exhaust the stack (100,000 `[`).
- `operationName` is a string or null; `query` a string; `variables` and `extensions` objects.
- The document is bounded before it is lexed: the lexer reads every character of a comment
  (measured: a 10 MB comment took 8 s of one worker's CPU), so comments count toward
  MAX_QUERY_TOKENS (one token per 64 characters, at least one) and a document longer than
  MAX_QUERY_TOKENS x 64 characters is refused (QUERY_TOO_LARGE) without being read.
"""

from __future__ import annotations

import json
import re
from typing import Any

from graphql import GraphQLError
from starlette.responses import JSONResponse
from strawberry.http.base import HTTPException

CHARACTERS_PER_TOKEN = 64
_COMMENT = re.compile(r"#[^\r\n]*")


class BodyTooLarge(Exception):
    pass


def too_large(limit: int, request_id: str) -> JSONResponse:
    error = {
        "message": f"The request body is larger than {limit} bytes.",
        "extensions": {"code": "PAYLOAD_TOO_LARGE", "requestId": request_id},
    }
    return JSONResponse({"errors": [error]}, status_code=413)


def declared_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isascii() and text.isdigit() else None
    return None


def limited_receive(receive: Any, limit: int) -> Any:
    """`receive`, raising BodyTooLarge once the body's bytes pass `limit`."""
    seen = 0

    async def receive_within_limit() -> Any:
        nonlocal seen
        message = await receive()
        if message.get("type") == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge()
        return message

    return receive_within_limit


def decode_request_json(data: str | bytes) -> dict[str, Any]:
    """One GraphQL request as a JSON object, or HTTPException(400) saying what is wrong."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise HTTPException(400, "The request body is not UTF-8.") from None
    try:
        parsed = json.loads(data)
    except RecursionError:
        raise HTTPException(400, "The request body is nested too deeply.") from None
    except ValueError:
        raise HTTPException(400, "Unable to parse request body as JSON") from None
    if isinstance(parsed, list):
        raise HTTPException(400, "Batching is not supported: send one operation per request.")
    if not isinstance(parsed, dict):
        raise HTTPException(400, "Expected a JSON object.")
    for name, kinds in (("query", str), ("operationName", str)):
        if parsed.get(name) is not None and not isinstance(parsed[name], kinds):
            raise HTTPException(400, f"`{name}` must be a string.")
    return parsed


def document_too_large(query: str, max_tokens: int) -> GraphQLError | None:
    """QUERY_TOO_LARGE when the document is longer than its token limit allows, or its
    comments alone use it up; None when the lexer may read it."""
    if len(query) > max_tokens * CHARACTERS_PER_TOKEN:
        message = f"The document is longer than {max_tokens * CHARACTERS_PER_TOKEN} characters."
    else:
        comments = sum(
            1 + len(match.group()) // CHARACTERS_PER_TOKEN for match in _COMMENT.finditer(query)
        )
        if comments <= max_tokens:
            return None
        message = f"The document's comments count more than {max_tokens} tokens."
    return GraphQLError(message, extensions={"code": "QUERY_TOO_LARGE"})
