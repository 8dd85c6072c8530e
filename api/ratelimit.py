"""Rate limits (docs/security.md), as pure-ASGI middleware plus two small helpers.

- Token buckets per bearer token and per client IP on /graphql (HTTP requests and
  websocket connection attempts): over the limit -> 429 with Retry-After (a
  websocket is closed with 4429 before it is accepted).
- Sign-in attempts per email+IP (`LoginAttempts`, a field extension on the
  `login` field): over the limit -> GraphQL error RATE_LIMITED, HTTP 429 and
  Retry-After, and the password is not checked.
- Open websockets per user (`WsConnections`): the app acquires a slot when the
  socket authenticates (api/app.py on_ws_connect) and this middleware releases
  it when the socket ends; a refused socket is closed with 4429.

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
    """Open websockets per user in this process."""

    def __init__(self, limit: int):
        self.limit = limit
        self.open: Counter[int] = Counter()

    def acquire(self, user_id: int, scope: dict) -> bool:
        if self.open[user_id] >= self.limit:
            scope["baton.ws_refused"] = True
            return False
        self.open[user_id] += 1
        scope["baton.ws_user"] = user_id
        return True

    def release(self, scope: dict) -> None:
        user_id = scope.pop("baton.ws_user", None)
        if user_id is not None:
            self.open[user_id] -= 1
            if self.open[user_id] <= 0:
                del self.open[user_id]


class Limiter:
    def __init__(self, settings):
        self.settings = settings
        url = settings.rate_limit_redis_url or (settings.broadcast_url if settings.broadcast_url.startswith("redis") else None)
        self.buckets = RedisBuckets(url) if url else MemoryBuckets()
        self.ws = WsConnections(settings.max_ws_connections_per_user)

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
                await receive()  # websocket.connect
                return await send({"type": "websocket.close", "code": 4429, "reason": "Too many connection attempts"})

            async def rewrite_close(message):
                # A socket refused for too many connections is closed 4429, not 4403.
                if message["type"] == "websocket.close" and scope.get("baton.ws_refused"):
                    message = {**message, "code": 4429, "reason": "Too many open connections for this user"}
                await send(message)

            try:
                return await self.app(scope, receive, rewrite_close)
            finally:
                self.limiter.ws.release(scope)
        return await self.app(scope, receive, send)


class LoginAttempts(RootFieldExtension):
    """At most `login_attempts` sign-ins per email+IP, refilled slowly (on `login` only)."""

    only = frozenset({"login"})

    def __init__(self, limiter: Limiter):
        self.limiter = limiter

    async def resolve_async(self, next_, source, info, **kwargs):
        s = self.limiter.settings
        data = kwargs.get("input")
        email = data.get("email") if isinstance(data, dict) else getattr(data, "email", None)
        request = getattr(info.context, "request", None)
        ip = client_ip(request.scope) if request is not None else "unknown"
        digest = hashlib.sha256(f"{str(email).strip().lower()}|{ip}".encode("utf-8", "replace")).hexdigest()[:24]
        allowed, wait = await self.limiter.take("login:" + digest, 1.0 / s.login_refill_seconds, s.login_attempts)
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
