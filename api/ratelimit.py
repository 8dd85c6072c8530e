"""Rate limits (docs/security.md), as pure-ASGI middleware plus two small helpers.

- Token buckets per bearer token and per client IP on /graphql (HTTP requests and
  websocket connection attempts): over the limit -> 429 with Retry-After (a
  websocket is refused with HTTP 429 at its handshake, before it is accepted).
- Sign-in attempts per email+IP (`LoginAttempts`, a field extension on the
  `login` field): over the limit -> GraphQL error RATE_LIMITED, HTTP 429 and
  Retry-After, and the password is not checked.
- Open websockets (`WsConnections`), per process: at most `max_sockets` in all and
  `max_unauthenticated_sockets_per_ip` per client address before they sign in,
  checked at the handshake (refused with HTTP 503 and 429, before anything is
  accepted or read), and `max_ws_connections_per_user` once signed in: the app
  takes a user's slot when the socket authenticates (api/app.py on_ws_connect; a
  refused socket is closed with 4429). This middleware releases them when it ends.

Buckets live in Redis when BATON_RATE_LIMIT_REDIS_URL (or a redis:// broadcast
URL) is configured, so every process shares them; otherwise per process. When
Redis is unreachable the limiter falls back to per-process buckets rather than
refusing traffic (the database, not Redis, is the service's dependency).
"""
from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import Counter

from graphql import GraphQLError

from api.live import TOO_MANY_SOCKETS
from api.security import graphql_error, send_json
from schema.limits import RootFieldExtension

log = logging.getLogger("baton.ratelimit")

_LUA = """
local tokens = tonumber(redis.call('HGET', KEYS[1], 't'))
local stamp = tonumber(redis.call('HGET', KEYS[1], 'u'))
local rate, burst, now, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if tokens == nil then tokens = burst; stamp = now end
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local allowed = 0
local wait = 0
if tokens >= cost then tokens = tokens - cost; allowed = 1 else wait = (cost - tokens) / rate end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'u', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(wait)}
"""


class MemoryBuckets:
    """Token buckets in this process."""

    def __init__(self, clock=time.monotonic, max_keys: int = 100_000):
        self.clock = clock
        self.max_keys = max_keys
        self.state: dict[str, tuple[float, float]] = {}

    async def take(self, key: str, rate: float, burst: float, cost: float = 1.0) -> tuple[bool, float]:
        now = self.clock()
        tokens, stamp = self.state.get(key, (burst, now))
        tokens = min(burst, tokens + max(0.0, now - stamp) * rate)
        if tokens >= cost:
            allowed, wait, tokens = True, 0.0, tokens - cost
        else:
            allowed, wait = False, (cost - tokens) / rate
        if len(self.state) >= self.max_keys and key not in self.state:
            self._prune(now)
        self.state[key] = (tokens, now)
        return allowed, wait

    def _prune(self, now: float) -> None:
        # Forget buckets idle long enough to be full again (a full bucket is the default).
        idle = [k for k, (_, stamp) in self.state.items() if now - stamp > 600]
        for k in idle:
            del self.state[k]
        if len(self.state) >= self.max_keys:
            self.state.clear()


class RedisBuckets:
    """Token buckets shared by every process through Redis (one atomic script per take)."""

    def __init__(self, url: str, prefix: str = "baton:rl:"):
        import redis.asyncio as redis

        self.client = redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.script = self.client.register_script(_LUA)
        self.prefix = prefix
        self.fallback = MemoryBuckets()
        self._warned = False

    async def take(self, key: str, rate: float, burst: float, cost: float = 1.0) -> tuple[bool, float]:
        try:
            allowed, wait = await self.script(keys=[self.prefix + key], args=[rate, burst, time.time(), cost])
            self._warned = False
            return bool(int(allowed)), float(wait)
        except Exception as exc:  # noqa: BLE001 - Redis down: limit per process instead of failing requests
            if not self._warned:
                log.warning("rate-limit store unreachable (%s); limiting per process until it returns", type(exc).__name__)
                self._warned = True
            return await self.fallback.take(key, rate, burst, cost)

    async def close(self) -> None:
        try:
            await self.client.aclose()
        except Exception:  # noqa: BLE001
            pass


class WsConnections:
    """Open websockets in this process: in all, not yet signed in per client IP, and
    signed in per user. A socket is admitted at its handshake, moves from its IP's
    count to its user's when it signs in, and is released when it ends."""

    def __init__(self, per_user: int, unauthenticated_per_ip: int = 20, total: int = 4000):
        self.limit = per_user
        self.unauthenticated_limit = unauthenticated_per_ip
        self.total_limit = total
        self.total = 0
        self.unauthenticated: Counter[str] = Counter()  # client IP -> sockets not signed in yet
        self.open: Counter[int] = Counter()  # user id -> signed-in sockets

    def admit(self, scope: dict) -> str | None:
        """At the handshake: None when admitted, else why it is refused (SOCKET_REFUSALS)."""
        if self.total >= self.total_limit:
            return "busy"
        ip = client_ip(scope)
        if self.unauthenticated[ip] >= self.unauthenticated_limit:
            return "unsigned"
        self.total += 1
        self.unauthenticated[ip] += 1
        scope["baton.ws_admitted"] = True
        scope["baton.ws_ip"] = ip  # while it is not signed in
        return None

    def _signed_in(self, scope: dict) -> None:
        ip = scope.pop("baton.ws_ip", None)
        if ip is not None:
            _decrement(self.unauthenticated, ip)

    def acquire(self, user_id: int, scope: dict) -> bool:
        """The socket signed in as this user: False (and refused) past the per-user cap."""
        self._signed_in(scope)
        if self.open[user_id] >= self.limit:
            scope["baton.ws_refused"] = True
            return False
        self.open[user_id] += 1
        scope["baton.ws_user"] = user_id
        return True

    def release(self, scope: dict) -> None:
        self._signed_in(scope)
        if scope.pop("baton.ws_admitted", False):
            self.total -= 1
        user_id = scope.pop("baton.ws_user", None)
        if user_id is not None:
            _decrement(self.open, user_id)


def _decrement(counter: Counter, key) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]


class Limiter:
    def __init__(self, settings):
        self.settings = settings
        url = settings.rate_limit_redis_url or (settings.broadcast_url if settings.broadcast_url.startswith("redis") else None)
        self.buckets = RedisBuckets(url) if url else MemoryBuckets()
        self.ws = WsConnections(
            settings.max_ws_connections_per_user, settings.max_unauthenticated_sockets_per_ip, settings.max_sockets
        )

    async def take(self, key: str, rate: float, burst: float) -> tuple[bool, float]:
        return await self.buckets.take(key, rate, burst)

    async def close(self) -> None:
        if isinstance(self.buckets, RedisBuckets):
            await self.buckets.close()


def client_ip(scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def token_key(scope) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == b"authorization":
            value = value.decode("latin-1")
            if value[:7].lower() == "bearer ":
                # Never the token itself: a short digest names the bucket.
                return hashlib.sha256(value[7:].strip().encode()).hexdigest()[:24]
    return None


def retry_after(wait: float) -> str:
    return str(max(1, math.ceil(wait)))


class RateLimit:
    """Pure-ASGI middleware: buckets per token and per IP on the GraphQL endpoint."""

    def __init__(self, app, *, limiter: Limiter, paths: tuple[str, ...] = ("/graphql",)):
        self.app = app
        self.limiter = limiter
        self.paths = paths

    async def check(self, scope) -> float | None:
        """Seconds to wait when refused, None when allowed."""
        s = self.limiter.settings
        if not s.rate_limit_enabled or scope["path"] not in self.paths:
            return None
        allowed, wait = await self.limiter.take("ip:" + client_ip(scope), s.rate_limit_per_ip, s.rate_limit_ip_burst)
        if not allowed:
            return wait
        token = token_key(scope)
        if token:
            allowed, wait = await self.limiter.take("tok:" + token, s.rate_limit_per_token, s.rate_limit_token_burst)
            if not allowed:
                return wait
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            wait = await self.check(scope)
            if wait is not None:
                return await send_json(
                    send, 429, graphql_error("Too many requests; retry later", "RATE_LIMITED", retryAfter=int(retry_after(wait))),
                    [(b"retry-after", retry_after(wait).encode())],
                )
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            wait = await self.check(scope)
            if wait is not None:
                return await refuse_socket(scope, receive, send, "attempts", wait)
            refused = self.limiter.ws.admit(scope)
            if refused is not None:
                return await refuse_socket(scope, receive, send, refused, self.limiter.settings.connection_init_timeout_seconds)

            async def rewrite_close(message):
                # A socket refused for too many connections is closed TOO_MANY, not FORBIDDEN.
                if message["type"] == "websocket.close" and scope.get("baton.ws_refused"):
                    code, reason = TOO_MANY_SOCKETS
                    message = {**message, "code": code, "reason": reason}
                await send(message)

            try:
                return await self.app(scope, receive, rewrite_close)
            finally:
                self.limiter.ws.release(scope)
        return await self.app(scope, receive, send)


# Why a websocket is refused at its handshake -> (HTTP status, message, code).
SOCKET_REFUSALS = {
    "busy": (503, "Too many open connections; retry later", "SERVICE_UNAVAILABLE"),
    "unsigned": (429, "Too many connections not signed in from this address; send connection_init first", "RATE_LIMITED"),
    "attempts": (429, "Too many connection attempts; retry later", "RATE_LIMITED"),
}


async def refuse_socket(scope, receive, send, why: str, wait: float) -> None:
    """Refuse a websocket at its handshake, before accepting it: an HTTP status with
    Retry-After (the ASGI websocket denial response) where the server supports it,
    else the server's plain refusal (403). Nothing else is read or kept for it."""
    await receive()  # websocket.connect
    if "websocket.http.response" not in scope.get("extensions", {}):
        return await send({"type": "websocket.close"})
    status, message, code = SOCKET_REFUSALS[why]
    seconds = retry_after(wait)
    await send_json(send, status, graphql_error(message, code, retryAfter=int(seconds)), [(b"retry-after", seconds.encode())],
                    kind="websocket.http")


class LoginAttempts(RootFieldExtension):
    """At most `login_attempts` sign-ins per email+IP, refilled slowly (on `login` only)."""

    only = frozenset({"login"})

    async def resolve_async(self, next_, source, info, **kwargs):
        # The app's limiter comes with the request: one schema serves every app in a process.
        limiter = info.context.login_limiter
        if limiter is None:
            return await next_(source, info, **kwargs)
        s = limiter.settings
        data = kwargs.get("input")
        email = data.get("email") if isinstance(data, dict) else getattr(data, "email", None)
        request = getattr(info.context, "request", None)
        ip = client_ip(request.scope) if request is not None else "unknown"
        digest = hashlib.sha256(f"{str(email).strip().lower()}|{ip}".encode("utf-8", "replace")).hexdigest()[:24]
        allowed, wait = await limiter.take("login:" + digest, 1.0 / s.login_refill_seconds, s.login_attempts)
        if not allowed:
            response = getattr(info.context, "response", None)
            if response is not None:
                response.status_code = 429
                response.headers["Retry-After"] = retry_after(wait)
            raise GraphQLError(
                f"Too many sign-in attempts; retry in {retry_after(wait)} s",
                extensions={"code": "RATE_LIMITED", "retryAfter": int(retry_after(wait))},
            )
        return await next_(source, info, **kwargs)
