"""HTTP hygiene: pure-ASGI middleware and a log filter (docs/security.md).

- `SecurityHeaders`: CSP, X-Content-Type-Options, Referrer-Policy, X-Frame-Options on
  every HTTP response; the GraphiQL page (GET /graphql answering HTML) gets the same
  policy plus the data: fonts its stylesheet embeds: this origin only, no inline script.
- `RedactSecrets`: a logging filter that masks secret query values (`token`,
  `ticket`, `password`, `key`, `secret`, ...) and Baton's tokens in uvicorn's logs.
- `RequestGuard`: bodies over `max_body_bytes` -> 413 (by Content-Length, and by
  counting for chunked bodies); POST /graphql only with a JSON or GraphQL content
  type, or multipart (uploads) when the request carries an Authorization header
  (which a cross-site form cannot add) -> otherwise 415. Form and text/plain
  bodies are what a cross-site <form> can send without a CORS preflight, so they
  are refused (CSRF).
"""
import json
import logging
import re
import uuid

log = logging.getLogger("baton.errors")

# Query parameters whose values are secrets, and Baton's own secrets wherever they appear.
SECRET_PARAM = re.compile(
    r"(?i)([?&;](?:token|access_token|refresh_token|ticket|password|passwd|key|api_key|apikey|secret|signature)=)[^&;#\s\"']*"
)
SECRET_VALUE = re.compile(r"\b(bt|whsec)_[A-Za-z0-9_-]{16,}")
# An attachment's download link carries its signed ticket in the path (resolvers/attachments.py).
FILE_LINK = re.compile(r"(/files/)[^/?#\s\"']+")


def redact(text: str) -> str:
    return FILE_LINK.sub(r"\1***", SECRET_VALUE.sub(r"\1_***", SECRET_PARAM.sub(r"\1***", text)))


class RedactSecrets(logging.Filter):
    """Masks secrets in log records: uvicorn logs each request's path with its query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def redact_secrets_in_logs() -> None:
    """Install RedactSecrets (once) on uvicorn's loggers: the access log and the error log
    ("WebSocket /graphql?..." lines) write request paths with their query strings."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())

BOARD_CSP = (
    "default-src 'self'; script-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
    "style-src 'self'; frame-ancestors 'none'"
)
# GraphiQL (web/graphiql.html) loads its vendored files from this origin only, like the board;
# its stylesheet embeds its fonts as data: URLs.
GRAPHIQL_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; font-src 'self' data:; "
    "connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'"
)
STATIC_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
JSON_TYPES = ("application/json", "application/graphql-response+json", "application/graphql")


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return value.decode("latin-1")
    return None


async def send_json(send, status: int, body: dict, headers: list | None = None, *, kind: str = "http") -> None:
    """A JSON response; kind="websocket.http" refuses a websocket handshake with it."""
    data = json.dumps(body).encode()
    await send({
        "type": f"{kind}.response.start", "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *(headers or [])],
    })
    await send({"type": f"{kind}.response.body", "body": data})


def graphql_error(message: str, code: str, **extra) -> dict:
    return {"data": None, "errors": [{"message": message, "extensions": {"code": code, **extra}}]}


class HttpMiddleware:
    """ASGI middleware that acts on HTTP requests only (`_http`). Its __call__ is not a
    coroutine function: websockets pass straight through, with no frame of ours kept
    for a socket's life."""

    def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self._http(scope, receive, send)


class SecurityHeaders(HttpMiddleware):
    def __init__(self, app, *, graphql_path: str = "/graphql"):
        self.app = app
        self.graphql_path = graphql_path

    async def _http(self, scope, receive, send):
        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _OURS]
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                graphiql = (
                    scope["method"] == "GET" and scope["path"] == self.graphql_path and content_type.startswith(b"text/html")
                )
                headers.append((b"content-security-policy", (GRAPHIQL_CSP if graphiql else BOARD_CSP).encode()))
                headers.extend(STATIC_HEADERS)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


_OURS = {b"content-security-policy", b"x-content-type-options", b"referrer-policy", b"x-frame-options"}


class BodyTooLarge(Exception):
    pass


class RequestGuard(HttpMiddleware):
    def __init__(self, app, *, max_body_bytes: int, max_upload_bytes: int | None = None, graphql_path: str = "/graphql"):
        self.app = app
        self.max_body_bytes = max_body_bytes
        # Spreadsheet imports arrive as multipart uploads and may be larger than any query.
        self.max_upload_bytes = max(max_upload_bytes or max_body_bytes, max_body_bytes)
        self.graphql_path = graphql_path

    async def _http(self, scope, receive, send):
        is_upload = (_header(scope, b"content-type") or "").split(";")[0].strip().lower() == "multipart/form-data"
        limit = self.max_upload_bytes if is_upload else self.max_body_bytes
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await self.too_large(send, limit)
        if scope["method"] == "POST" and scope["path"] == self.graphql_path:
            refused = self.content_type_problem(scope)
            if refused:
                return await send_json(send, 415, graphql_error(refused, "UNSUPPORTED_MEDIA_TYPE"))

        received = 0
        started = False

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self.too_large(send, limit)
        except Exception as exc:
            # A fault outside GraphQL execution (e.g. the database is down while the bearer
            # token is checked): a clear, masked JSON answer with a logged request id, not a trace.
            if started:
                raise
            request_id = uuid.uuid4().hex[:12]
            log.error("request %s failed outside GraphQL execution", request_id, exc_info=exc)
            unavailable = isinstance(exc, (OSError, TimeoutError)) or type(exc).__module__.startswith(("sqlalchemy", "asyncpg"))
            await send_json(
                send, 503 if unavailable else 500,
                graphql_error(
                    f"{'Service unavailable' if unavailable else 'Internal server error'} (request id {request_id})",
                    "SERVICE_UNAVAILABLE" if unavailable else "INTERNAL_SERVER_ERROR", requestId=request_id,
                ),
                [(b"retry-after", b"1")] if unavailable else [],
            )

    async def too_large(self, send, limit: int):
        await send_json(
            send, 413,
            graphql_error(f"Request body larger than {limit} bytes", "PAYLOAD_TOO_LARGE", limit=limit),
        )

    @staticmethod
    def content_type_problem(scope) -> str | None:
        content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        if content_type in JSON_TYPES:
            return None
        if content_type == "multipart/form-data":
            if _header(scope, b"authorization"):
                return None
            return "Multipart uploads need an Authorization header"
        return (
            f"POST /graphql needs Content-Type application/json (got {content_type or 'none'}); "
            "form and text/plain bodies are refused (CSRF)"
        )
