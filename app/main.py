"""Composition root: settings -> engine, Redis, services -> the Starlette app."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from app.bootstrap import Services, build_services
from app.domain.access.principals import Principal
from app.graphql.core.context import Context
from app.graphql.core.credentials import BadCredentials, CredentialsUnavailable, authenticate
from app.graphql.core.ide import ASSETS_DIR as IDE_ASSETS
from app.graphql.core.ide import MOUNT as IDE_MOUNT
from app.graphql.core.ide import graphiql_page
from app.graphql.core.media_types import (
    GRAPHQL_RESPONSE_CONTENT_TYPE,
    request_error_status,
    wants_graphql_response,
)
from app.graphql.core.request_body import (
    BodyTooLarge,
    declared_length,
    decode_request_json,
    limited_receive,
    too_large,
)
from app.graphql.schema import build_schema
from app.graphql.settlement.files import settlement_file
from app.jobs.webhooks import WebhookDispatcher
from app.platform.request_log import RequestLog, current_request, new_request_id
from app.settings import Settings

log = logging.getLogger(__name__)


YOUNG_GC_THRESHOLD = 5_000  # allocations between young collections (CPython's default: 700)


def tune_garbage_collector() -> None:
    """Move what start-up built (the schema, table metadata, pools: hundreds of thousands of
    objects that live as long as the worker) out of the cycle collector's sight, so that full
    collections stop walking it (measured: a tenth of a home query's CPU), and collect young
    objects less often, since one request allocates thousands of them."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GC_THRESHOLD, middle, old)


def connection_headers(params: Any) -> dict[str, str]:
    """Credentials from a websocket's connection_init payload, as lower-case header names:
    {"Authorization": "Bearer ..."} (what GraphiQL sends) or {"headers": {...}}."""
    if not isinstance(params, dict):
        return {}
    nested = params.get("headers")
    items = {**params, **nested} if isinstance(nested, dict) else params
    return {k.lower(): v for k, v in items.items() if isinstance(k, str) and isinstance(v, str)}


def caller_kind(principal: Principal | None) -> str:
    """What the request log says about the caller: never the token or key."""
    return principal.kind if principal is not None else "anonymous"


READYZ_WAIT_SECONDS = 1.0  # a probe's answer within a load balancer's usual 2 s timeout
PRINCIPAL_SCOPE_KEY = "bmg.principal"  # the caller, authenticated before GraphQL runs
SUB_RESPONSE_SCOPE_KEY = "bmg.sub_response"  # the status and headers the response will take
# graphql-ws's own code and words for a subprotocol it does not speak, and which one it does
SUBPROTOCOL_REFUSED = 4406
SUBPROTOCOL_REFUSAL = f"Subprotocol not acceptable: use {GRAPHQL_TRANSPORT_WS_PROTOCOL}"


class GatewayGraphQL(GraphQL[Context, None]):
    def __init__(self, services: Services, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.services = services
        # GraphiQL's page, its files served by the gateway itself (app/graphql/core/ide.py)
        self.ide_page = graphiql_page() if self.graphql_ide else ""

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(self.ide_page)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """An HTTP request's credentials are checked before its body is read: bad ones get
        401 (app.graphql.core.credentials), never an anonymous answer."""
        if scope["type"] == "http":
            record = current_request()
            request_id = record.id if record else new_request_id()
            limit = self.services.settings.max_request_bytes
            if (declared_length(scope) or 0) > limit:
                await too_large(limit, request_id)(scope, receive, send)
                return
            receive = limited_receive(receive, limit)
            try:
                principal = await authenticate(self.services, Request(scope).headers)
            except (BadCredentials, CredentialsUnavailable) as refusal:
                await refusal.response(request_id)(scope, receive, send)
                return
            scope[PRINCIPAL_SCOPE_KEY] = principal
            try:
                await super().__call__(scope, receive, send)
            except BodyTooLarge:  # raised while the body is read, before any response
                await too_large(limit, request_id)(scope, receive, send)
            return
        if scope["type"] == "websocket" and GRAPHQL_TRANSPORT_WS_PROTOCOL not in (
            scope.get("subprotocols") or ()
        ):
            # The legacy `graphql-ws` (subscriptions-transport-ws) or none: accepted only to be
            # closed with a reason, which a refused handshake (HTTP 403) could not carry.
            websocket = WebSocket(scope, receive, send)
            await websocket.accept()
            await websocket.close(SUBPROTOCOL_REFUSED, SUBPROTOCOL_REFUSAL)
            return
        await super().__call__(scope, receive, send)

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        """Answer in the media type the client prefers (app/graphql/core/media_types.py)."""
        response = await super().run(request, context, root_value)
        if (
            isinstance(response, Response)
            and response.media_type == "application/json"
            and wants_graphql_response(request.headers.get("accept"))
        ):
            response.headers["content-type"] = GRAPHQL_RESPONSE_CONTENT_TYPE
        return response

    async def get_sub_response(self, request: Any) -> Response:
        sub_response = await super().get_sub_response(request)
        request.scope[SUB_RESPONSE_SCOPE_KEY] = sub_response
        return sub_response

    async def process_result(self, request: Any, result: ExecutionResult) -> Any:
        """Under application/graphql-response+json a request error is a 4xx without `data`."""
        processed = await super().process_result(request, result)
        if isinstance(request, Request) and wants_graphql_response(request.headers.get("accept")):
            status = request_error_status(result.data, result.errors)
            if status is not None:
                processed.pop("data", None)
                request.scope[SUB_RESPONSE_SCOPE_KEY].status_code = status
        return processed

    def parse_json(self, data: str | bytes) -> Any:
        """A request body (or GET `variables`/`extensions`) is one UTF-8 JSON object: a batch,
        a bare scalar, bytes that are not UTF-8 or JSON nested too deep for the stack are
        refused with HTTP 400, never run or a 500 (app.graphql.core.request_body)."""
        return decode_request_json(data)

    async def get_context(self, request: Any, response: Any) -> Context:
        record = current_request()
        refused: BadCredentials | None = None
        if PRINCIPAL_SCOPE_KEY in request.scope:
            principal = request.scope[PRINCIPAL_SCOPE_KEY]
        else:  # a websocket: refused at connection_init (on_ws_connect) when bad
            try:
                principal = await authenticate(self.services, request.headers)
            except BadCredentials as exc:
                principal, refused = None, exc
        ctx = Context(
            self.services,
            principal,
            request=request,
            response=response,
            request_id=record.id if record else new_request_id(),
            websocket=isinstance(request, WebSocket),
            refused=refused,
        )
        ctx.refresh_loaders()
        if record is not None:
            record.caller = caller_kind(principal)
        return ctx

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Browsers cannot set headers on a websocket: credentials in the connection_init
        payload replace those of the upgrade request. Bad credentials (either way) close the
        socket with 4403."""
        headers = connection_headers(context.connection_params)
        if "authorization" in headers or "x-api-key" in headers:
            try:
                context.principal = await authenticate(self.services, headers)
            except (BadCredentials, CredentialsUnavailable):
                raise ConnectionRejectionError() from None
            context.refused = None
            record = current_request()
            if record is not None:
                record.caller = caller_kind(context.principal)
        if context.refused is not None:
            raise ConnectionRejectionError()
        return await super().on_ws_connect(context)


def create_app(
    settings: Settings | None = None,
    *,
    services: Services | None = None,
) -> Starlette:
    """The gateway as an ASGI app; pass `services` to share an engine/Redis (tests)."""
    settings = settings or (services.settings if services else Settings.from_env())
    owned = services is None
    if services is None:
        services = build_services(settings)
    services.metrics.watch_pool(services.sessions.kw.get("bind"))
    graphql = GatewayGraphQL(
        services,
        schema=build_schema(
            introspection=settings.introspection,
            max_depth=settings.max_query_depth,
            max_aliases=settings.max_query_aliases,
            max_tokens=settings.max_query_tokens,
        ),
        graphql_ide="graphiql" if settings.graphiql else None,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        # Strawberry's own cap counts every operation in flight on a socket and refuses
        # without a code: keep it above ours (SUBSCRIPTION_LIMIT, app.graphql.core.subscriptions)
        max_subscriptions_per_connection=max(100, settings.max_subscriptions_per_connection),
    )

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        """Ready when the database and Redis answer, each within READYZ_WAIT_SECONDS: a hung
        one is "down: TimeoutError" at once, not after a socket timeout."""
        checks: dict[str, str] = {}

        async def database() -> None:
            from sqlalchemy import text

            async with services.sessions() as session:
                await session.execute(text("SELECT 1"))

        for name, check in (("database", database), ("redis", services.redis.ping)):
            try:
                await asyncio.wait_for(check(), READYZ_WAIT_SECONDS)
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"down: {type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)

    async def settlement_csv(request: Request) -> Response:
        principal = await authenticate(services, request.headers)
        return await settlement_file(request, services, principal)

    async def metrics(request: Request) -> Response:
        body, content_type = services.metrics.render()
        return Response(body, media_type=content_type)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        tune_garbage_collector()
        sweeper = asyncio.get_running_loop().create_task(services.sweep_outbox_forever())
        dispatcher = dispatching = None
        if settings.webhooks_dispatch:  # webhooks out (docs/webhooks.md), woken by the relay
            dispatcher = WebhookDispatcher(
                sessions=services.sessions,
                settings=settings,
                clock=services.clock,
                metrics=services.metrics,
            )
            services.relay.consumers.append(dispatcher.nudge)
            dispatching = asyncio.get_running_loop().create_task(dispatcher.run_forever())
        yield
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        if dispatcher is not None and dispatching is not None:
            dispatching.cancel()  # a message in flight is sent again after its lease
            with contextlib.suppress(asyncio.CancelledError):
                await dispatching
            services.relay.consumers.remove(dispatcher.nudge)
            await dispatcher.aclose()
        if owned:
            await services.aclose()
        else:
            await services.drain()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            *(
                [Mount(IDE_MOUNT, StaticFiles(directory=IDE_ASSETS), name="graphiql-assets")]
                if settings.graphiql and IDE_ASSETS.is_dir()
                else []
            ),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route("/settlement/{name}.csv", settlement_csv),
        ],
        middleware=[Middleware(RequestLog)],
        lifespan=lifespan,
    )
    app.state.services = services
    return app
