"""One log line per HTTP request (or websocket connection), under a request id.

The id comes from the caller's `X-Request-Id` when it is a plain token, otherwise it is made
here; it is echoed in the response header and carried in masked errors. What the GraphQL
layer learns (caller kind, operation, error codes) is noted on the `RequestRecord` of the
current request, which the middleware logs when the response is done. Credentials, query
strings and request bodies are never logged.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("app.request")

HEADER = "x-request-id"
_PLAIN_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
_MAX_NOTED = 20
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


@dataclass
class RequestRecord:
    id: str
    method: str
    path: str
    caller: str = "anonymous"
    operations: list[str] = field(default_factory=list)
    operation_types: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    user_errors: list[str] = field(default_factory=list)

    def note_operation(self, name: str, kind: str) -> None:
        if len(self.operations) < _MAX_NOTED:  # a websocket may run many
            self.operations.append(name)
            self.operation_types.append(kind)

    def note_errors(self, codes: list[str], *, user: bool = False) -> None:
        target = self.user_errors if user else self.errors
        target.extend(codes[: max(0, _MAX_NOTED - len(target))])


_current: ContextVar[RequestRecord | None] = ContextVar("bmg_request", default=None)


def current_request() -> RequestRecord | None:
    """The record of the request being served, if any (None outside a request)."""
    return _current.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


def _incoming_id(scope: dict[str, Any]) -> str | None:
    for name, value in scope.get("headers") or ():
        if name == HEADER.encode():
            text = value.decode("latin-1").strip()
            return text if _PLAIN_ID.match(text) else None
    return None


def _joined(values: list[str]) -> str | None:
    return ",".join(dict.fromkeys(values)) if values else None


class RequestLog:
    """ASGI middleware: request id in and out, and the access line when the response ends."""

    def __init__(self, app: Any, quiet_paths: frozenset[str] = QUIET_PATHS) -> None:
        self.app = app
        self.quiet_paths = quiet_paths

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        record = RequestRecord(
            id=_incoming_id(scope) or new_request_id(),
            method=scope.get("method", "WEBSOCKET"),
            path=scope.get("path", ""),
        )
        header = (HEADER.encode(), record.id.encode())
        status: int | None = None

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            kind = message["type"]
            if kind in ("http.response.start", "websocket.accept"):
                status = message.get("status", 101)
                message = {**message, "headers": [*message.get("headers", []), header]}
            elif kind == "websocket.close" and status is None:
                status = 403  # refused before the handshake completed
            await send(message)

        token = _current.set(record)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            status = 500
            raise
        finally:
            _current.reset(token)
            self._log(record, status, time.perf_counter() - started)

    def _log(self, record: RequestRecord, status: int | None, seconds: float) -> None:
        if status is not None and status >= 500:
            level = logging.ERROR
        elif record.path in self.quiet_paths:
            level = logging.DEBUG
        else:
            level = logging.INFO
        if not log.isEnabledFor(level):
            return
        log.log(
            level,
            "%s %s %s",
            record.method,
            record.path,
            status,
            extra={
                "request_id": record.id,
                "method": record.method,
                "path": record.path,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "caller": record.caller,
                "operation": _joined(record.operations),
                "operation_type": _joined(record.operation_types),
                "errors": _joined(record.errors),
                "user_errors": _joined(record.user_errors),
            },
        )
