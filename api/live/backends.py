"""broadcaster backends that survive their connection dropping: each reconnects,
subscribes its channels again and calls `on_reconnect`, after which the hub makes
every local subscriber catch up from the log (announcements may have been lost)."""
import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg
from broadcaster import Event
from broadcaster._backends.postgres import PostgresBackend
from broadcaster._backends.redis import RedisBackend
from redis import asyncio as redis
from redis.exceptions import RedisError

log = logging.getLogger("baton.realtime")  # the name live-event logs have always had


PUBLISH_CONNECTIONS = 4  # per process, for NOTIFY (PostgreSQL) or PUBLISH (Redis)


class ReconnectingPostgresBackend(PostgresBackend):
    """broadcaster's LISTEN/NOTIFY backend, plus what it lacks: when its connection
    drops (server restart, failover, pg_terminate_backend) reconnect, LISTEN again
    and tell the hub, whose subscribers then catch up from the log."""

    def __init__(self, url: str, on_reconnect: Callable[[], None]):
        super().__init__(url)
        self._on_reconnect = on_reconnect
        self._channels: set[str] = set()
        self._closing = False
        self._reconnecting: asyncio.Task | None = None
        self.reconnects = 0

    async def connect(self) -> None:
        await super().connect()
        self._conn.add_termination_listener(self._terminated)
        # NOTIFY goes out on connections of its own: asyncpg runs one operation at a
        # time per connection, so publishing on the LISTEN connection failed whenever
        # two writers announced at once ("another operation is in progress").
        self._publishers = await asyncpg.create_pool(self._url, min_size=1, max_size=PUBLISH_CONNECTIONS)

    async def disconnect(self) -> None:
        self._closing = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        if not self._conn.is_closed():
            await self._conn.close()
        await self._publishers.close()

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        if not self._conn.is_closed():
            await super().subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        if not self._conn.is_closed():
            await super().unsubscribe(channel)

    async def publish(self, channel: str, message: str) -> None:
        await self._publishers.execute("SELECT pg_notify($1, $2)", channel, message)

    def _terminated(self, _conn) -> None:
        if not self._closing:
            log.warning("broadcast LISTEN connection lost; reconnecting")
            self._start_reconnect()

    async def ensure_connected(self) -> None:
        """The periodic check, in case the termination callback never fired."""
        if self._conn.is_closed() and not self._closing:
            self._start_reconnect()

    def _start_reconnect(self) -> None:
        if self._reconnecting is None or self._reconnecting.done():
            self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay = 0.1
        while not self._closing:
            try:
                conn = await asyncpg.connect(self._url)
                for name in sorted(self._channels):
                    await conn.add_listener(name, self._listener)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("broadcast reconnect failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            conn.add_termination_listener(self._terminated)
            self._conn = conn
            self.reconnects += 1
            log.info("broadcast LISTEN connection re-established (%d channels)", len(self._channels))
            self._on_reconnect()
            return


class SubscribedRedisBackend(RedisBackend):
    """broadcaster 0.3.1 wakes its reader before SUBSCRIBE is sent; redis-py's
    listen() then sees no subscription, returns at once, and the reader sleeps
    forever: no message is ever delivered. Subscribe first, then wake it.

    Its reader task also dies on the first connection error (Redis restarted or
    unreachable) and is never restarted: every later announcement in this process
    was silently dropped, leaving only the periodic catch-up (none with
    BATON_CATCH_UP_SECONDS=0: events never arrived). So, like the Postgres backend
    above: keep reading, reconnect with backoff (redis-py SUBSCRIBEs its channels
    again on connect), and tell the hub, whose subscribers then catch up from the log
    (tests/faults/test_redis_broadcast_outage.py).

    Subscribed means confirmed. redis-py's subscribe() only sends SUBSCRIBE; Redis
    delivers a channel's messages from when it has processed it, which the reader
    learns from the reply. So `subscribe` returns (and the hub calls the channel
    ready) once the reply has been read, and after a reconnection the hub is told
    only once every wanted channel's reply has been read: its catch-up then reads the
    log after the point from which every announcement reaches us. A channel
    subscribed while Redis is down (or whose reply is not read in
    SUBSCRIBE_CONFIRM_SECONDS) does not wait: its subscriber is told to catch up
    once it is confirmed."""

    SUBSCRIBE_CONFIRM_SECONDS = 5.0

    def __init__(self, url: str, on_reconnect: Callable[[], None] | None = None):
        super().__init__(url)
        # redis-py 8 fails a command when its pool (100) is exhausted: concurrent
        # publishes wait for one of a few connections instead.
        self._conn = redis.Redis(connection_pool=redis.BlockingConnectionPool.from_url(
            url, max_connections=PUBLISH_CONNECTIONS + 1, timeout=10))  # + the SUBSCRIBE connection
        self._pubsub = self._conn.pubsub()
        self._on_reconnect = on_reconnect
        self._wanted: set[str] = set()
        self._confirmed: set[str] = set()  # SUBSCRIBE replies read on the current connection
        self._waiters: dict[str, asyncio.Future] = {}  # subscribe() waiting for its reply
        self._owed = False  # tell the hub once every wanted channel is confirmed
        self._lost = False
        self.reconnects = 0

    async def connect(self) -> None:
        await super().connect()
        self._watch()

    def _watch(self) -> None:
        if self._pubsub.connection is not None:  # idempotent (redis-py keeps a WeakMethod once)
            self._pubsub.connection.register_connect_callback(self._reconnected)

    def _reconnected(self, _connection) -> None:
        # A new connection (the only thing that undoes a confirmed SUBSCRIBE):
        # redis-py has only just sent its SUBSCRIBEs again (channels added while Redis
        # was down are not among them; the reader sends those). The hub is told once
        # the reader has read every wanted channel's reply (_confirm, _settle).
        self.reconnects += 1
        self._confirmed.clear()
        self._owed = True
        log.info("redis broadcast connection re-established (%d channels)", len(self._wanted))

    def _confirm(self, channel: str) -> None:
        self._confirmed.add(channel)
        waiter = self._waiters.pop(channel, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._settle()

    def _settle(self) -> None:
        if self._owed and self._wanted <= self._confirmed:
            self._owed = False
            log.info("redis broadcast subscribed again (%d channels); catching up from the log", len(self._wanted))
            if self._on_reconnect is not None:
                self._on_reconnect()

    async def subscribe(self, channel: str) -> None:
        self._wanted.add(channel)
        self._confirmed.discard(channel)
        waiter = self._waiters.get(channel)
        if waiter is None or waiter.done():
            waiter = self._waiters[channel] = asyncio.get_running_loop().create_future()
        try:
            await self._pubsub.subscribe(channel)
        except (RedisError, OSError) as exc:
            # Redis is down: the reader subscribes it when it reconnects, and the hub
            # catches up once that is confirmed.
            log.warning("redis SUBSCRIBE %s failed (%s); will retry", channel, exc)
            self._lost = True
            self._owed = True
            self._watch()
            self._ready.set()
            return
        self._watch()
        self._ready.set()
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self.SUBSCRIBE_CONFIRM_SECONDS)
        except asyncio.TimeoutError:
            log.warning("redis SUBSCRIBE %s not confirmed in %.0f s; catching up once it is",
                        channel, self.SUBSCRIBE_CONFIRM_SECONDS)
            self._owed = True

    async def unsubscribe(self, channel: str) -> None:
        self._wanted.discard(channel)
        self._confirmed.discard(channel)
        waiter = self._waiters.pop(channel, None)
        if waiter is not None and not waiter.done():
            waiter.cancel()
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.unsubscribe(channel)
        self._settle()

    async def _pubsub_listener(self) -> None:
        delay = 0.1
        while True:
            await self._ready.wait()
            try:
                if self._lost:
                    await self._pubsub.connect()
                    self._watch()
                    have = {c.decode() if isinstance(c, bytes) else c for c in self._pubsub.channels}
                    if self._wanted - have:
                        await self._pubsub.subscribe(*(self._wanted - have))
                    self._lost, delay = False, 0.1
                self._settle()  # nothing wanted: nothing to confirm
                async for message in self._pubsub.listen():
                    kind = message["type"]
                    if kind == "message":
                        await self._queue.put(Event(channel=message["channel"].decode(), message=message["data"].decode()))
                    elif kind == "subscribe":
                        name = message["channel"]
                        self._confirm(name.decode() if isinstance(name, bytes) else name)
            except (RedisError, OSError) as exc:
                if not self._lost:
                    log.warning("redis broadcast connection lost (%s); reconnecting", exc)
                self._lost = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if self._wanted:  # listen() ended with channels wanted: they are not subscribed
                self._lost = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            else:
                self._ready.clear()  # nothing subscribed: wait for a channel
