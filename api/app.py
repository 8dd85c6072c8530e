"""create_app(settings) -> Starlette: /graphql, the board, health and readiness."""
import contextlib
import functools
import logging
from datetime import timedelta

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError

from api import jobs
from api.context import authenticate, new_context
from api.realtime import Hub
from api.settings import Settings
from db.engine import Database
from db.migrate import upgrade
from db.types import utcnow
from resolvers.live import log_head
from schema import schema as default_schema

log = logging.getLogger("baton")


class BatonGraphQL(GraphQL):
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
        )
        self.app_state = app_state

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
        return None


def create_app(settings: Settings | None = None, *, migrate: bool = True, clock=utcnow) -> Starlette:
    settings = settings or Settings()

    class State:
        pass

    state = State()
    state.settings = settings
    state.clock = clock
    state.db = Database(settings.database_url)
    state.hub = Hub(
        settings.broadcast_url,
        subscriber_buffer=settings.subscriber_buffer,
        catch_up_seconds=settings.catch_up_seconds,
        log_head=functools.partial(log_head, state.db),
    )
    graphql = BatonGraphQL(state, default_schema)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if migrate:
            await upgrade(settings.database_url)
        await state.hub.connect()
        alerts = jobs.start(state)
        try:
            yield
        finally:
            await jobs.stop(alerts)
            await state.hub.disconnect()
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
        Route("/readyz", readyz),
        Route("/", index),
        Mount("/static", StaticFiles(directory=settings.web_dir, check_dir=False), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.baton = state
    return app
