"""create_app(settings) -> Starlette: /graphql, the board, health and readiness."""
import asyncio
import contextlib
import functools
import logging
import secrets
from datetime import timedelta

import orjson
from cross_web import HTTPException
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema.exceptions import InvalidOperationTypeError

from api import jobs
from api.context import authenticate, new_context
from api.graphql_http import GRAPHQL_RESPONSE, JSON as JSON_MEDIA, is_request_error, preferred_media_type
from api.live import Hub, LegacyTransportWS, RawWebSocketSend, SharedResultsTransportWS, install_shared_execution
from api.live.revocation import Revocations
from api.result_cache import ResultCache
from api.security import redact_secrets_in_logs
from api.settings import Settings
from db.engine import Database
from db.files import LocalFileStore
from db.migrate import upgrade
from db.types import utcnow
from resolvers.auth import dead_tokens
from resolvers.live import events_between, log_head, log_heads

log = logging.getLogger("baton")
UPLOAD_SLACK = 64 * 1024  # multipart framing and the operations/map parts around an uploaded file


class BatonGraphQL(GraphQL):
    # Live events: one serialization per shared result (api/live/).
    graphql_transport_ws_handler_class = SharedResultsTransportWS
    graphql_ws_handler_class = LegacyTransportWS  # the legacy protocol: init timeout, byte budget

    def __init__(self, app_state, schema):
        settings = app_state.settings
        super().__init__(
            schema,
            keep_alive=True,
            keep_alive_interval=settings.keep_alive_seconds,
            connection_init_wait_timeout=timedelta(seconds=settings.connection_init_timeout_seconds),
            max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
            # Queries only over GET: mutations must be POSTed.
            allow_queries_via_get=True,
            # The GraphQL multipart request spec (importOpportunities takes an Upload).
            multipart_uploads_enabled=True,
        )
        self.app_state = app_state
        from api.persisted import PersistedQueries

        self.persisted = PersistedQueries.from_settings(settings)
        self.results = ResultCache(settings.result_cache_size)

    # orjson: encoding a board's JSON was a seventh of its cost with the stdlib.
    # (Requests stay on the stdlib decoder: it accepts lone surrogates, which the
    # input checks then refuse as VALIDATION instead of a bare HTTP 400.)
    def encode_json(self, data: object) -> str:
        return orjson.dumps(data).decode()

    def parse_json(self, data):
        # Bodies (and multipart `operations`, GET `variables`) must be objects, or arrays
        # (refused as batches): Strawberry would fail on `null`, `"x"` or `1` with a 500.
        value = super().parse_json(data)
        if not isinstance(value, (dict, list)):
            raise HTTPException(400, "Expected a JSON object, e.g. {\"query\": \"{ viewer { id } }\"}")
        return value

    def should_render_graphql_ide(self, request) -> bool:
        # A GET carrying only a persisted-query hash is an operation, not a visit to GraphiQL.
        return super().should_render_graphql_ide(request) and request.query_params.get("extensions") is None

    async def render_graphql_ide(self, request):
        # Strawberry's GraphiQL page loads its scripts from a CDN and is blank offline; ours
        # (web/graphiql.html) loads the same files vendored under web/vendor/graphiql/.
        return HTMLResponse((self.app_state.settings.web_dir / "graphiql.html").read_text(encoding="utf-8"))

    async def get_sub_response(self, request):
        sub_response = await super().get_sub_response(request)
        sub_response.graphql_media_type = preferred_media_type(request.headers.get("accept"))
        return sub_response

    def create_response(self, response_data, sub_response):
        response = super().create_response(response_data, sub_response)
        media_type = getattr(sub_response, "graphql_media_type", JSON_MEDIA)
        if media_type == GRAPHQL_RESPONSE:
            response.headers["content-type"] = f"{GRAPHQL_RESPONSE}; charset=utf-8"
            if isinstance(response_data, dict) and is_request_error(response_data):
                response_data.pop("data", None)
                response.body = self.encode_json(response_data).encode()
                response.headers["content-length"] = str(len(response.body))
                response.status_code = 400
        return response

    async def execute_single(self, request, request_adapter, sub_response, context, root_value, request_data):
        # Persisted queries (APQ and the operator's allow-list): api/persisted.py.
        from api.persisted import apply

        refused = apply(self.persisted, request_data)
        if refused is not None:
            return refused
        async def compute():
            result = await super(BatonGraphQL, self).execute_single(
                request=request, request_adapter=request_adapter, sub_response=sub_response, context=context,
                root_value=root_value, request_data=request_data,
            )
            cost = getattr(context, "query_cost", None)  # asked for with extensions {"cost": true}
            if cost is not None:
                result.extensions = {**(result.extensions or {}), "cost": cost}
            return result

        try:
            return await self.results.get_or_compute(self.results.key(context, request_data), compute)
        finally:
            # The request's rows go now, not at the next full garbage collection.
            context.release_loaders()

    async def __call__(self, scope, receive, send):
        try:
            if scope["type"] == "http":
                await self._http(scope, receive, send)
            else:
                await super().__call__(scope, receive, send)
        finally:
            if scope["type"] == "websocket":
                self.app_state.revocations.release(scope)

    async def _http(self, scope, receive, send):
        """Strawberry's HTTP handling, with a mutation over GET answered 405 + Allow."""
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as e:
            if isinstance(e.__cause__, InvalidOperationTypeError):
                response = PlainTextResponse("Mutations are not allowed over GET: POST them", status_code=405, headers={"allow": "POST"})
            else:
                response = PlainTextResponse(e.reason, status_code=e.status_code)
        await response(scope, receive, send)

    async def get_context(self, request, response):
        ctx = new_context(self.app_state, request)
        ctx.response = response
        if request.scope["type"] == "http":
            await authenticate(ctx, request.headers.get("authorization"))
        return ctx

    async def on_ws_connect(self, context):
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        await authenticate(context, params.get("authorization") or params.get("Authorization"))
        if context.viewer is None:
            raise ConnectionRejectionError()
        # Open sockets per user (api/ratelimit.py releases the slot when the socket ends).
        if not self.app_state.limiter.ws.acquire(context.viewer.id, context.request.scope):
            raise ConnectionRejectionError()
        # Closed when its token is revoked, from any process (api/live/revocation.py).
        self.app_state.revocations.track(context.viewer.token_id, context.request)
        return None


async def _export(state, fmt, request):
    from api.export import export_opportunities

    return await export_opportunities(state, fmt, request)


def _read_file(store, sha256: str) -> bytes:
    with store.open(sha256) as stored:
        return stored.read()


async def _download(state, request):
    """GET /files/<ticket>: an attachment through its signed link (resolvers/attachments.py).
    Any refusal is a bare 404: a link that does not work says nothing about why."""
    from urllib.parse import quote

    from resolvers.attachments import BadTicket, redeem

    try:
        row = await redeem(state.db, state.secret_key, request.path_params["ticket"], state.clock())
        data = await asyncio.to_thread(_read_file, state.files, row.sha256)
    except (BadTicket, FileNotFoundError, ValueError):
        return PlainTextResponse("Not found", status_code=404, headers={"cache-control": "no-store"})
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\%' else "_" for ch in row.name)
    return Response(data, headers={
        "content-type": row.content_type,
        "content-disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(row.name, safe='')}",
        "x-content-type-options": "nosniff",
        "cache-control": "private, no-store",
    })


def hardened_schema(settings: Settings):
    """The schema with the configured query limits and operation timeout (schema/limits.py)."""
    return _hardened_schema(
        settings.max_query_depth, settings.max_aliases, settings.max_tokens, settings.max_query_cost,
        settings.max_page_size, settings.introspection, settings.operation_timeout_seconds,
    )


@functools.lru_cache(maxsize=8)
def _hardened_schema(max_depth, max_aliases, max_tokens, max_cost, max_page, introspection, operation_timeout):
    """Built once per set of limits: apps in one process share the schema and, with it,
    the cache of validated documents (building it takes longer than a hundred requests)."""
    from api.ratelimit import LoginAttempts
    from schema import build_schema
    from schema.limits import limit_extensions

    built = build_schema(extensions=[*limit_extensions(
        max_depth=max_depth, max_aliases=max_aliases, max_tokens=max_tokens,
        max_cost=max_cost, max_page=max_page, introspection=introspection,
    )], root_field_extensions=[LoginAttempts()])
    built.operation_timeout = operation_timeout
    install_shared_execution(built)  # live events: one execution per distinct subscription
    return built


def create_app(settings: Settings | None = None, *, migrate: bool = True, clock=utcnow) -> Starlette:
    settings = settings or Settings()

    class State:
        pass

    state = State()
    state.settings = settings
    state.clock = clock
    # Signs download links; unset, a key of this process's own (`baton serve` shares one with its workers).
    state.secret_key = settings.secret_key or secrets.token_urlsafe(32)
    state.files = LocalFileStore(settings.files_path)  # attachments (db/files.py)
    redact_secrets_in_logs()
    state.db = Database(
        settings.database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow,
        pgbouncer=settings.db_pgbouncer,
    )
    state.hub = Hub(
        settings.broadcast_url,
        subscriber_buffer=settings.subscriber_buffer,
        catch_up_seconds=settings.catch_up_seconds,
        log_head=functools.partial(log_head, state.db),
        log_heads=functools.partial(log_heads, state.db),
        read_log=functools.partial(events_between, state.db),  # one shared read per page
    )
    state.revocations = Revocations(
        state.hub.broadcast, lambda token_ids: dead_tokens(state.db, token_ids, state.clock()), settings.catch_up_seconds
    )
    # Limits (schema/limits.py) and sign-in attempts (api/ratelimit.py): docs/security.md.
    from api.ratelimit import Limiter, RateLimit
    from api.security import RequestGuard, SecurityHeaders

    state.limiter = Limiter(settings)
    graphql = BatonGraphQL(state, hardened_schema(settings))

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if migrate:
            await upgrade(settings.database_url, pgbouncer=settings.db_pgbouncer)
        await state.hub.connect()
        state.revocations.start()
        from api import channels, webhooks

        webhook_task = webhooks.start(state)
        channel_task = channels.start(state)
        alerts = jobs.start(state)
        try:
            yield
        finally:
            await jobs.stop(alerts)
            await webhooks.stop(webhook_task)
            await channels.stop(channel_task)
            await state.revocations.stop()
            await state.hub.disconnect()
            await state.limiter.close()
            await state.db.dispose()

    async def healthz(request):
        return PlainTextResponse("ok")

    async def readyz(request):
        try:
            async with state.db.read() as session:
                await session.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            return JSONResponse({"ready": False, "error": type(exc).__name__}, status_code=503)
        return JSONResponse({"ready": True})

    async def index(request):
        return FileResponse(settings.web_dir / "index.html")

    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", healthz),
        *[Route(f"/export/opportunities.{fmt}", functools.partial(_export, state, fmt)) for fmt in ("csv", "xlsx")],
        Route("/files/{ticket}", functools.partial(_download, state)),
        Route("/readyz", readyz),
        Route("/", index),
        Mount("/static", StaticFiles(directory=settings.web_dir, check_dir=False), name="static"),
    ]
    from starlette.middleware import Middleware
    from starlette.middleware.cors import CORSMiddleware

    middleware = [
        Middleware(RawWebSocketSend),  # live events skip the send wrappers below (api/live/socket.py)
        Middleware(SecurityHeaders),
        *([Middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                      allow_headers=["authorization", "content-type"], max_age=600)] if settings.cors_origins else []),
        Middleware(RateLimit, limiter=state.limiter),
        # A multipart request carrying an attachment of the largest size passes (its parts' headers fit the slack).
        Middleware(RequestGuard, max_body_bytes=settings.max_body_bytes,
                   max_upload_bytes=max(settings.max_upload_bytes, int(settings.max_attachment_mb * 1024 * 1024) + UPLOAD_SLACK)),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.baton = state
    return app
