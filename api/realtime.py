"""Live fan-out. Committed events are announced on a per-organization broadcast
channel as small messages ({"seq": [...], "users": [...]}).

broadcaster gives every subscriber its own unbounded queue, so one slow websocket
could grow memory without bound. Instead the Hub holds ONE broadcaster subscription
per organization channel per process and fans each message out to small bounded
`Feed`s, one per GraphQL subscription. A full feed is not waited on: it is marked
overflowed and its owner is told (the websocket is closed with 4429), so a slow
consumer never slows the others.

Messages are only hints: subscribers read the event log for the seqs they have not
seen. So a lost message (failed publish, dropped LISTEN connection) costs nothing
but latency: the Hub periodically compares each channel with the log's head and
sends a catch-up hint, and it sends one to everybody after reconnecting."""
import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
from broadcaster import Broadcast
from broadcaster._backends.postgres import PostgresBackend
from broadcaster._backends.redis import RedisBackend

log = logging.getLogger("baton.realtime")

LogHead = Callable[[int], Awaitable[int]]


def channel(org_id: int) -> str:
    return f"baton_org_{org_id}"


class SlowConsumer(Exception):
    """The subscriber fell more than `subscriber_buffer` messages behind."""


@dataclass
class Batch:
    """Everything announced since the subscriber last looked, merged."""

    seqs: set[int] = field(default_factory=set)
    users: set[int] = field(default_factory=set)
    catch_up: bool = False  # messages may have been lost: read the log to its head


class Feed:
    """One subscriber's bounded buffer of announcements."""

    def __init__(self, maxsize: int, on_overflow: Callable[[], None] | None):
        self._queue: asyncio.Queue[dict] = asyncio.Queue(maxsize=max(1, maxsize))
        self._on_overflow = on_overflow
        self.overflowed = False

    def offer(self, message: dict) -> None:
        if self.overflowed:
            return
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True
            log.warning("subscriber buffer full: disconnecting a slow consumer")
            # The reader is not waiting (its queue is full); it raises on its next look.
            if self._on_overflow is not None:
                self._on_overflow()

    async def next(self) -> Batch:
        """Wait for at least one announcement, then take all that are pending."""
        message = await self._queue.get()
        batch = Batch()
        while True:
            if self.overflowed:
                raise SlowConsumer("subscriber buffer overflowed")
            batch.seqs.update(message.get("seq", ()))
            batch.users.update(message.get("users", ()))
            batch.catch_up |= bool(message.get("catch_up"))
            try:
                message = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return batch


CATCH_UP = {"catch_up": True}


class _Channel:
    """One organization's broadcaster subscription in this process, and its feeds."""

    def __init__(self, hub: "Hub", org_id: int):
        self.hub = hub
        self.org_id = org_id
        self.feeds: set[Feed] = set()
        self.head = 0  # highest seq announced on this channel that we have seen
        self.ready = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name=f"hub:{channel(org_id)}")

    def fan_out(self, message: dict) -> None:
        self.head = max([self.head, *message.get("seq", ())])
        for feed in list(self.feeds):
            feed.offer(message)

    async def _run(self) -> None:
        try:
            async with self.hub.broadcast.subscribe(channel(self.org_id)) as subscriber:
                if self.hub.log_head is not None:
                    self.head = await self.hub.log_head(self.org_id)
                self.ready.set()
                async for event in subscriber:
                    try:
                        message = json.loads(event.message)
                    except (TypeError, ValueError):
                        log.warning("ignoring malformed message on %s: %r", channel(self.org_id), event.message)
                        continue
                    self.fan_out(message)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - subscribers still poll the log via catch-up
            log.exception("broadcast subscription for %s failed", channel(self.org_id))
            self.ready.set()

    async def check_head(self) -> None:
        """A publish may have failed: if the log is ahead of what we saw, say so."""
        head = await self.hub.log_head(self.org_id)
        if head > self.head:
            log.info("%s: log head %s is ahead of announced %s; catching up", channel(self.org_id), head, self.head)
            self.head = head
            self.fan_out(CATCH_UP)


class Hub:
    def __init__(
        self,
        broadcast_url: str,
        *,
        subscriber_buffer: int = 500,
        catch_up_seconds: float = 5.0,
        log_head: LogHead | None = None,
    ):
        self.subscriber_buffer = subscriber_buffer
        self.catch_up_seconds = catch_up_seconds
        self.log_head = log_head
        self.channels: dict[int, _Channel] = {}
        if broadcast_url.startswith(("postgres://", "postgresql://")):
            self.backend = ReconnectingPostgresBackend(broadcast_url, on_reconnect=self.catch_up_all)
            self.broadcast = Broadcast(backend=self.backend)
        elif broadcast_url.startswith(("redis://", "rediss://")):
            self.backend = None
            self.broadcast = Broadcast(backend=SubscribedRedisBackend(broadcast_url))
        else:
            self.backend = None
            self.broadcast = Broadcast(broadcast_url)
        self._ticker: asyncio.Task | None = None

    async def connect(self) -> None:
        await self.broadcast.connect()
        if self.log_head is not None and self.catch_up_seconds > 0:
            self._ticker = asyncio.create_task(self._tick(), name="hub:catch-up")

    async def disconnect(self) -> None:
        tasks = [c.task for c in self.channels.values()]
        if self._ticker is not None:
            tasks.append(self._ticker)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.channels.clear()
        await self.broadcast.disconnect()

    async def publish(self, org_id: int, message: dict) -> None:
        await self.broadcast.publish(channel(org_id), json.dumps(message))

    @contextlib.asynccontextmanager
    async def subscribe(self, org_id: int, on_overflow: Callable[[], None] | None = None) -> AsyncIterator[Feed]:
        """A bounded feed of the organization's announcements. Once this returns, the
        channel is listened to: anything committed afterwards will be announced."""
        feed = Feed(self.subscriber_buffer, on_overflow)
        chan = self.channels.get(org_id)
        if chan is None or chan.task.done():
            chan = self.channels[org_id] = _Channel(self, org_id)
        chan.feeds.add(feed)
        try:
            await chan.ready.wait()
            yield feed
        finally:
            chan.feeds.discard(feed)
            if not chan.feeds and self.channels.get(org_id) is chan:
                # The last local subscriber left: stop listening to the channel.
                del self.channels[org_id]
                chan.task.cancel()

    def catch_up_all(self) -> None:
        for chan in list(self.channels.values()):
            chan.fan_out(CATCH_UP)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.catch_up_seconds)
            if self.backend is not None:
                await self.backend.ensure_connected()
            for chan in list(self.channels.values()):
                try:
                    await chan.check_head()
                except Exception:  # noqa: BLE001 - try again next tick
                    log.exception("catch-up check for %s failed", channel(chan.org_id))


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

    async def disconnect(self) -> None:
        self._closing = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        if not self._conn.is_closed():
            await self._conn.close()

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        if not self._conn.is_closed():
            await super().subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        if not self._conn.is_closed():
            await super().unsubscribe(channel)

    async def publish(self, channel: str, message: str) -> None:
        if self._conn.is_closed():
            raise ConnectionError("the LISTEN/NOTIFY connection is down; reconnecting")
        await super().publish(channel, message)

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
    forever: no message is ever delivered. Subscribe first, then wake it."""

    async def subscribe(self, channel: str) -> None:
        await self._pubsub.subscribe(channel)
        self._ready.set()
