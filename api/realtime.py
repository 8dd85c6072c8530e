"""Live fan-out. Committed events are announced on a per-organization broadcast
channel as small messages ({"seq": [...], "users": [...]}).

broadcaster gives every subscriber its own unbounded queue, so one slow websocket
could grow memory without bound. Instead the Hub holds ONE broadcaster subscription
per organization channel per process and fans each message out to small bounded
`Feed`s, one per GraphQL subscription. A full feed is not waited on: it is marked
overflowed and its owner is told (the websocket is closed with 4429), so a slow
consumer never slows the others.

Messages are only hints: on each, the channel reads the announced range of the log
ONCE and hands the same rows (a `Page`) to every feed; subscribers skip what they
already passed and read any gap themselves. So a lost message (failed publish,
dropped LISTEN connection) costs nothing but latency: the Hub periodically compares
each channel with the log's head and reads up to it, and does so for every channel
after reconnecting. The end of this module shares execution and serialization of
identical subscriptions per event (SharedEventExecutor, SharedResultsTransportWS)
and lets the pump write live pages straight to graphql-transport-ws sockets of
subscriptions that wait caught up (Feed.park, _LiveTap, _SocketWriter)."""
import asyncio
import collections
import contextlib
import contextvars
import json
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
from broadcaster import Broadcast, Event
from broadcaster._backends.postgres import PostgresBackend
from broadcaster._backends.redis import RedisBackend
from redis.exceptions import RedisError

log = logging.getLogger("baton.realtime")

LogHead = Callable[[int], Awaitable[int]]
# read_log(org_id, after, upto) -> the log's events with after < seq <= upto, oldest first
ReadLog = Callable[[int, int, int], Awaitable[list]]


def channel(org_id: int) -> str:
    return f"baton_org_{org_id}"


class SlowConsumer(Exception):
    """The subscriber fell more than `subscriber_buffer` messages behind."""


@dataclass(eq=False)
class Page:
    """What one channel learnt from the log in one step, handed to every local feed.

    `rows` are exactly the log's events with after < seq <= upto, oldest first, read
    ONCE per channel per process; every subscriber of the organization gets the same
    list. `rows is None` means "not read here" (no reader configured, the range was
    too long to hold, or the read failed): subscribers read that range themselves.
    `shared` is scratch space for everyone handling this page (resolvers keep one
    loader cache and one execution result per distinct subscription there)."""

    after: int
    upto: int
    rows: list | None
    seqs: frozenset = frozenset()  # the seqs announced (a lost message leaves a hole)
    users: frozenset = frozenset()  # users named by those announcements
    catch_up: bool = False  # announcements may have been lost
    shared: dict = field(default_factory=dict)


@dataclass
class Batch:
    """Every page offered since the subscriber last looked, in order."""

    pages: list[Page] = field(default_factory=list)

    @property
    def seqs(self) -> set[int]:
        return set().union(*(p.seqs for p in self.pages))

    @property
    def users(self) -> set[int]:
        return set().union(*(p.users for p in self.pages))

    @property
    def catch_up(self) -> bool:
        return any(p.catch_up for p in self.pages)


class Feed:
    """One subscriber's bounded buffer of pages.

    A feed with a `tap` (a graphql-transport-ws subscription: `_LiveTap` below) can
    also be served without waking its subscriber: while the subscriber waits with
    nothing pending (`park`), the channel's pump hands a page that starts where the
    subscriber is (page.after <= last) to the tap, which writes the events that match
    `filter` straight to the socket and moves `last` on. Any other page (a gap, a range
    the channel did not read, a result the tap cannot send) is queued as before and
    wakes the subscriber, which first takes `last` back (resolvers/live.py)."""

    __slots__ = ("_pages", "_maxsize", "_waiter", "_on_overflow", "overflowed", "tap", "parked", "last", "filter")

    def __init__(self, maxsize: int, on_overflow: Callable[[], None] | None, tap=None):
        self._pages: list[Page] = []
        self._maxsize = max(1, maxsize)
        self._waiter: asyncio.Future | None = None
        self._on_overflow = on_overflow
        self.overflowed = False
        self.tap = tap
        self.parked = False
        self.last = 0  # while parked: every seq <= last has been passed (sent or filtered out)
        self.filter = None  # while parked: which events the subscriber wants (has .matches(event))

    def park(self, last: int, flt) -> None:
        """The subscriber has passed every seq <= last and waits for the next page."""
        if self.tap is not None and not self._pages and not self.overflowed:
            self.last, self.filter, self.parked = last, flt, True

    def offer(self, page: Page) -> None:
        if self.overflowed:
            return
        self.parked = False
        if len(self._pages) >= self._maxsize:
            self.overflow()
            return
        self._pages.append(page)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def overflow(self) -> None:
        """Give up on this subscriber: its socket is closed (4429) by `on_overflow`."""
        if self.overflowed:
            return
        self.overflowed = True
        self.parked = False
        log.warning("subscriber buffer full: disconnecting a slow consumer")
        # The reader is not waiting (its buffer is full) or is parked; it raises on its next look.
        if self._on_overflow is not None:
            self._on_overflow()

    async def next(self) -> Batch:
        """Wait for at least one page, then take all that are pending."""
        while not self._pages:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        self.parked = False
        if self.overflowed:
            raise SlowConsumer("subscriber buffer overflowed")
        batch = Batch(self._pages)
        self._pages = []
        return batch


# Longest range a channel reads into memory for its subscribers; beyond it (a long
# outage) each subscriber pages through the log itself, as on replay.
SHARED_READ_LIMIT = 5000
# The pump lets other tasks run after handing a page to this many feeds.
YIELD_EVERY = 1000
# Longest the pump waits for results that load data before leaving them to their subscribers.
LATER_WAIT = 5.0


class _Channel:
    """One organization's broadcaster subscription in this process, and its feeds.

    Announcements only move `target`; one pump task per channel reads the log range
    (read_upto, target] once and offers the same Page to every feed, so the cost of
    reading the log per event does not grow with the number of local subscribers."""

    def __init__(self, hub: "Hub", org_id: int):
        self.hub = hub
        self.org_id = org_id
        self.feeds: set[Feed] = set()
        self.read_upto = 0  # the log up to here has been handed out (or was there before)
        self.target = 0  # highest seq announced (or known to exist)
        self._seqs: set[int] = set()
        self._users: set[int] = set()
        self._catch_up = False
        self._need_head = False
        self._wake = asyncio.Event()
        self.ready = asyncio.Event()
        self.pages = 0  # pages handed out
        self.direct_deliveries = 0  # of those, deliveries written straight to a socket by the pump (Feed.tap)
        self.task = asyncio.create_task(self._run(), name=f"hub:{channel(org_id)}")
        self._pump_task: asyncio.Task | None = None

    @property
    def head(self) -> int:
        return max(self.read_upto, self.target)

    def fan_out(self, message: dict) -> None:
        """Note an announcement; the pump reads and hands out what it names."""
        seqs = message.get("seq", ())
        if seqs:
            self.target = max(self.target, *seqs)
            self._seqs.update(seqs)
        self._users.update(message.get("users", ()))
        if message.get("catch_up"):
            self._catch_up = True
            self._need_head |= "head" not in message
            self.target = max(self.target, message.get("head", 0))
        self._wake.set()

    async def _run(self) -> None:
        try:
            async with self.hub.broadcast.subscribe(channel(self.org_id)) as subscriber:
                if self.hub.log_head is not None:
                    self.read_upto = self.target = await self.hub.log_head(self.org_id)
                self._pump_task = asyncio.create_task(self._pump(), name=f"hub-pump:{channel(self.org_id)}")
                self.ready.set()
                async for event in subscriber:
                    try:
                        message = json.loads(event.message)
                    except (TypeError, ValueError):
                        log.warning("ignoring malformed message on %s: %r", channel(self.org_id), event.message)
                        continue
                    self.fan_out(message)
        except asyncio.CancelledError:
            if self._pump_task is not None:
                self._pump_task.cancel()
            raise
        except Exception:  # noqa: BLE001 - subscribers still poll the log via catch-up
            log.exception("broadcast subscription for %s failed", channel(self.org_id))
            if self._pump_task is None:
                self._pump_task = asyncio.create_task(self._pump(), name=f"hub-pump:{channel(self.org_id)}")
            self.ready.set()

    async def _pump(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            seqs, users, catch_up, need_head = self._seqs, self._users, self._catch_up, self._need_head
            self._seqs, self._users, self._catch_up, self._need_head = set(), set(), False, False
            try:
                if need_head and self.hub.log_head is not None:
                    self.target = max(self.target, await self.hub.log_head(self.org_id))
                after, upto = self.read_upto, self.target
                if upto <= after:
                    continue  # late or repeated announcement: already handed out
                rows = None
                if self.hub.read_log is not None and upto - after <= SHARED_READ_LIMIT:
                    try:
                        rows = await self.hub.read_log(self.org_id, after, upto)
                    except Exception:  # noqa: BLE001 - subscribers read the range themselves
                        log.exception("reading %s (%s, %s] failed", channel(self.org_id), after, upto)
                        rows = None
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - try again on the next hint
                log.exception("pump for %s failed", channel(self.org_id))
                continue
            self.read_upto = upto
            page = Page(after, upto, rows, frozenset(seqs), frozenset(users), catch_up or need_head)
            self.pages += 1
            later = None
            for i, feed in enumerate(list(self.feeds), 1):
                if i % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # thousands of sockets: let requests in between
                if feed.parked and rows is not None and feed.last >= after:
                    done = self._direct(feed, page)
                    if done is True:
                        continue
                    if done is not False:  # the tap is computing the page's results
                        later = later or []
                        later.append((feed, done))
                        continue
                feed.offer(page)
            if later:
                # Results that load data (nested fields): wait for them, once per
                # distinct subscription, then write. Later pages wait, so order holds;
                # a result still loading after LATER_WAIT is left to its subscribers.
                await asyncio.wait({done for _, done in later}, timeout=LATER_WAIT)
                for feed, done in later:
                    if feed in self.feeds and (
                        not feed.parked or not done.done() or self._direct(feed, page) is not True
                    ):
                        feed.offer(page)

    def _direct(self, feed: Feed, page: Page):
        """Hand a page straight to a parked feed's tap: True when written (or queued on
        its socket), False when the subscriber must take it itself, or an awaitable to
        wait for before asking again."""
        try:
            done = feed.tap.deliver(page, feed)
        except Exception:  # noqa: BLE001 - the subscriber's own path still works
            log.exception("direct delivery on %s failed", channel(self.org_id))
            return False
        if done is True:
            self.direct_deliveries += 1
        return done

    async def check_head(self) -> None:
        """A publish may have failed: if the log is ahead of what we saw, say so."""
        head = await self.hub.log_head(self.org_id)
        if head > self.head:
            log.info("%s: log head %s is ahead of announced %s; catching up", channel(self.org_id), head, self.head)
            self.fan_out({"catch_up": True, "head": head})

    def cancel(self) -> list[asyncio.Task]:
        tasks = [self.task] + ([self._pump_task] if self._pump_task is not None else [])
        for task in tasks:
            task.cancel()
        return tasks


class Hub:
    def __init__(
        self,
        broadcast_url: str,
        *,
        subscriber_buffer: int = 500,
        catch_up_seconds: float = 5.0,
        log_head: LogHead | None = None,
        read_log: ReadLog | None = None,
    ):
        self.subscriber_buffer = subscriber_buffer
        self.catch_up_seconds = catch_up_seconds
        self.log_head = log_head
        self.read_log = read_log
        self.channels: dict[int, _Channel] = {}
        if broadcast_url.startswith(("postgres://", "postgresql://")):
            self.backend = ReconnectingPostgresBackend(broadcast_url, on_reconnect=self.catch_up_all)
            self.broadcast = Broadcast(backend=self.backend)
        elif broadcast_url.startswith(("redis://", "rediss://")):
            self.backend = None
            self.broadcast = Broadcast(backend=SubscribedRedisBackend(broadcast_url, on_reconnect=self.catch_up_all))
        else:
            self.backend = None
            self.broadcast = Broadcast(broadcast_url)
        self._ticker: asyncio.Task | None = None

    async def connect(self) -> None:
        await self.broadcast.connect()
        if self.log_head is not None and self.catch_up_seconds > 0:
            self._ticker = asyncio.create_task(self._tick(), name="hub:catch-up")

    async def disconnect(self) -> None:
        tasks = [t for c in self.channels.values() for t in c.cancel()]
        if self._ticker is not None:
            self._ticker.cancel()
            tasks.append(self._ticker)
        await asyncio.gather(*tasks, return_exceptions=True)
        self.channels.clear()
        await self.broadcast.disconnect()

    async def publish(self, org_id: int, message: dict) -> None:
        await self.broadcast.publish(channel(org_id), json.dumps(message))

    @contextlib.asynccontextmanager
    async def subscribe(self, org_id: int, on_overflow: Callable[[], None] | None = None) -> AsyncIterator[Feed]:
        """A bounded feed of the organization's log, in pages (see `Page`). Once this
        returns, the channel is listened to: anything committed afterwards reaches
        the feed (a page may start after where the subscriber is; it fills that gap
        from the log itself)."""
        # A graphql-transport-ws subscription being set up in this task may take pages
        # straight to its socket (see Feed and _LiveTap).
        tap = _TAP.get(None)
        if tap is not None and (tap.executor is None or tap.feed is not None):
            tap = None
        feed = Feed(self.subscriber_buffer, on_overflow, tap)
        if tap is not None:
            tap.feed = feed
        chan = self.channels.get(org_id)
        if chan is None or chan.task.done():
            chan = self.channels[org_id] = _Channel(self, org_id)
        chan.feeds.add(feed)
        try:
            await chan.ready.wait()
            yield feed
        finally:
            feed.tap, feed.parked = None, False
            chan.feeds.discard(feed)
            if not chan.feeds:
                # The last local subscriber left: stop listening to the channel.
                if self.channels.get(org_id) is chan:
                    del self.channels[org_id]
                chan.cancel()

    def catch_up_all(self) -> None:
        for chan in list(self.channels.values()):
            chan.fan_out({"catch_up": True})

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
    forever: no message is ever delivered. Subscribe first, then wake it.

    Its reader task also dies on the first connection error (Redis restarted or
    unreachable) and is never restarted: every later announcement in this process
    was silently dropped, leaving only the periodic catch-up (none with
    BATON_CATCH_UP_SECONDS=0: events never arrived). So, like the Postgres backend
    above: keep reading, reconnect with backoff (redis-py SUBSCRIBEs its channels
    again on connect), and on every reconnection, ours or redis-py's own retry,
    tell the hub, whose subscribers then catch up from the log
    (tests/faults/test_redis_broadcast_outage.py)."""

    def __init__(self, url: str, on_reconnect: Callable[[], None] | None = None):
        super().__init__(url)
        self._on_reconnect = on_reconnect
        self._wanted: set[str] = set()
        self._lost = False
        self.reconnects = 0

    async def connect(self) -> None:
        await super().connect()
        self._watch()

    def _watch(self) -> None:
        if self._pubsub.connection is not None:  # idempotent (redis-py keeps a WeakMethod once)
            self._pubsub.connection.register_connect_callback(self._reconnected)

    def _reconnected(self, _connection) -> None:
        self.reconnects += 1
        log.info("redis broadcast connection re-established (%d channels)", len(self._wanted))
        if self._on_reconnect is not None:
            self._on_reconnect()

    async def subscribe(self, channel: str) -> None:
        self._wanted.add(channel)
        try:
            await self._pubsub.subscribe(channel)
        except (RedisError, OSError) as exc:
            # Redis is down: the reader subscribes it when it reconnects.
            log.warning("redis SUBSCRIBE %s failed (%s); will retry", channel, exc)
            self._lost = True
        self._watch()
        self._ready.set()

    async def unsubscribe(self, channel: str) -> None:
        self._wanted.discard(channel)
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.unsubscribe(channel)

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
                async for message in self._pubsub.listen():
                    if message["type"] == "message":
                        await self._queue.put(Event(channel=message["channel"].decode(), message=message["data"].decode()))
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


# --- One execution and one serialization per distinct subscription per event -------
#
# resolvers/live.py hands every subscriber of an organization the same Event rows for
# a page the Hub read once, marked with the page's `shared` dict (live.SHARED). Two
# small hooks into Strawberry/graphql-core (no fork) then make the per-subscriber cost
# of a live event a dictionary lookup and a websocket send:
#
# - SharedEventExecutor (the schema's `execution_context_class`): graphql-core builds
#   a per-event executor for every event of every subscription. For a shared row it
#   looks up (document, operation name, variables, visibility, seq) in the page's
#   dict; the first subscriber executes (in its own task, so a subscriber leaving
#   does not cancel it for the others), everybody with the same key gets that same
#   ExecutionResult. Visibility is (organization, department scope): data does not
#   depend on anything else about the viewer (scope filters events, not fields).
#   Replayed rows (read by the subscriber itself) are never shared: they resolve
#   current data as before.
# - Replays in batches: a subscriber's own reads of the log (replay with `after`, gap
#   reads) reach the executor as one payload per page (live.ReplayBatch). The executor
#   executes every event of it (each on its own, as graphql-core would) and returns
#   one result whose `data` is a ResultBatch; the transport sends each event's result
#   as its own `next` message. So Strawberry's per-result stream machinery runs once
#   per page of up to live.PAGE events instead of once per event.
# - Plain selections: a selection made only of an event's attribute fields (seq,
#   type, occurredAt, departmentKeys, changes, __typename; no directives, fragments,
#   arguments or middleware) is completed straight from the row with the schema's own
#   resolvers and scalar serializers (`_plain_plan`), not through graphql-core's
#   executor; anything it cannot complete (a null in a non-null field, a serializer
#   error) goes through graphql-core for that event, errors and all.
#   tests/realtime/test_replay_fast_path.py checks it against graphql-core's output.
# - SharedResultsTransportWS (the view's graphql-transport-ws handler): a shared
#   result's `data` is a SharedData dict that remembers its JSON text, so the `next`
#   message is the operation id spliced into the same text for every socket. The
#   bytes are what the view's encode_json would produce for the message.


class SharedData(dict):
    """A shared result's `data`; remembers its encoded text."""

    __slots__ = ("text",)

    def __init__(self, *args):
        super().__init__(*args)
        self.text = None


class _Done:
    """A per-event executor stand-in returning a result computed for someone else."""

    __slots__ = ("result",)

    def __init__(self, result):
        self.result = result

    def execute_operation(self, serially=None):
        return self.result


class ResultBatch(list):
    """The results of a replay batch, one per event, carried as one result's `data`:
    a plain dict (the `data` of an error-free result) or a graphql-core ExecutionResult."""

    __slots__ = ()


def _plain_plan(executor):
    """For a subscription whose selection is only attribute fields of the event type:
    a function event -> data dict equal to graphql-core's, or None when it cannot
    complete the event. None (no plan) for any other selection."""
    from graphql import FieldNode, GraphQLNonNull, GraphQLObjectType, OperationType

    from schema.plain import _completer

    op = executor.operation
    mm = executor.middleware_manager
    if op.operation is not OperationType.SUBSCRIPTION or (mm is not None and mm.middlewares):
        return None
    roots = op.selection_set.selections
    if len(roots) != 1 or not isinstance(roots[0], FieldNode) or roots[0].directives or roots[0].selection_set is None:
        return None
    root = roots[0]
    sub_type = executor.schema.subscription_type
    gfield = sub_type.fields.get(root.name.value) if sub_type is not None else None
    definition = (gfield.extensions or {}).get("strawberry-definition") if gfield is not None else None
    if definition is None or not definition.is_subscription:
        return None  # the per-event resolver is Strawberry's `lambda event: event`
    obj = gfield.type.of_type if isinstance(gfield.type, GraphQLNonNull) else gfield.type
    if not isinstance(obj, GraphQLObjectType) or obj.is_type_of is not None:
        return None
    steps = []
    for node in root.selection_set.selections:
        if not isinstance(node, FieldNode) or node.directives or node.arguments or node.selection_set is not None:
            return None
        key = node.alias.value if node.alias else node.name.value
        if node.name.value == "__typename":
            steps.append((key, None, obj.name))
            continue
        ofield = obj.fields.get(node.name.value)
        if ofield is None or not getattr(ofield.resolve, "_is_default", False):
            return None  # a resolver (it may load, check permissions, raise)
        complete = _completer(ofield.type)
        if complete is None:
            return None
        steps.append((key, ofield.resolve, complete))
    root_key = root.alias.value if root.alias else root.name.value
    steps = tuple(steps)

    def plan(event):
        if event is None:
            return None
        out = {}
        try:
            for key, resolve, complete in steps:
                out[key] = complete if resolve is None else complete(resolve(event, None))
        except Exception:  # noqa: BLE001 - _Bail or a failing attribute: graphql-core decides
            return None
        return {root_key: out}

    return plan


def _shared_result(result):
    if getattr(result, "errors", None) or not isinstance(getattr(result, "data", None), dict):
        return result
    from graphql import ExecutionResult

    return ExecutionResult(SharedData(result.data), None, result.extensions)


def _executor_class():
    from graphql import ExecutionResult, print_ast

    from resolvers.live import SHARED, ReplayBatch
    from schema.plain import PlainCompletionExecutor

    class SharedEventExecutor(PlainCompletionExecutor):
        _baton_key = None
        _baton_plan = None

        def _plan(self):
            plan = self._baton_plan
            if plan is None:
                plan = self._baton_plan = _plain_plan(self) or False
            return plan

        def _execute_one(self, payload):
            """graphql-core's result for one event (maybe awaitable), by the plain plan if it can."""
            plan = self._plan()
            if plan:
                data = plan(payload)
                if data is not None:
                    return ExecutionResult(data, None)
            return super().build_per_event_executor(payload).execute_operation(False)

        def _execute_batch(self, rows):
            """One result for a ReplayBatch: `data` is a ResultBatch, one entry per event."""
            out = ResultBatch()
            plan = self._plan()
            if plan:
                for row in rows:
                    data = plan(row)
                    if data is None:
                        break
                    out.append(data)
                else:
                    return _Done(ExecutionResult(out, None))
            is_awaitable = self.is_awaitable
            rest = rows[len(out):]

            async def run():
                for row in rest:  # one at a time, as the events came one by one before
                    result = self._execute_one(row)
                    if is_awaitable(result):
                        result = await result
                    out.append(result.data if not result.errors and type(result.data) is dict
                               and not result.extensions else result)
                return ExecutionResult(out, None)

            return _Done(run())

        def _share_key(self):
            key = self._baton_key
            if key is None:
                op = self.operation
                source = op.loc.source.body if op.loc is not None else print_ast(op) + "".join(
                    print_ast(f) for f in self.fragments.values()
                )
                variables = getattr(self.variable_values, "coerced", self.variable_values)
                used = _data_variables(op, self.fragments)  # not those only choosing events
                viewer = getattr(self.context_value, "viewer", None)
                key = self._baton_key = (
                    source,
                    op.name.value if op.name else None,
                    repr(sorted((k, v) for k, v in (variables or {}).items() if k in used)),
                    getattr(viewer, "org_id", None),
                    getattr(viewer, "department_id", None),
                )
            return key

        def cancellable_iterable(self, iterable):
            # A subscription's source stream is ready: its transport's live tap (if it
            # made one for this operation) writes shared results with this executor.
            tap = _TAP.get(None)
            if tap is not None and tap.executor is None:
                tap.executor = self
            return super().cancellable_iterable(iterable)

        def build_per_event_executor(self, payload):
            if type(payload) is ReplayBatch:
                return self._execute_batch(payload)
            shared = getattr(payload, SHARED, None)
            if shared is None:
                plan = self._plan()
                data = plan(payload) if plan else None
                if data is not None:
                    return _Done(ExecutionResult(data, None))
                return super().build_per_event_executor(payload)
            key = (self._share_key(), payload.seq)
            done = shared.get(key)
            if done is None:
                result = self._execute_one(payload)
                if self.is_awaitable(result):

                    async def run(result=result):
                        return _shared_result(await result)

                    task = asyncio.ensure_future(run())
                    done = shared[key] = task

                else:
                    done = shared[key] = _shared_result(result)
            if isinstance(done, asyncio.Future):
                if done.done() and not done.cancelled() and done.exception() is None:
                    return _Done(done.result())
                return _Done(asyncio.shield(done))
            return _Done(done)

    return SharedEventExecutor


def _runner_class():
    from strawberry.extensions.base_extension import SchemaExtension
    from strawberry.extensions.runner import SchemaExtensionsRunner

    import functools
    import inspect

    from strawberry.extensions.context import OperationContextManager, WrappedHook

    plain_results = SchemaExtension.get_results
    plain_stream = SchemaExtension.on_stream_result
    done = contextlib.nullcontext()

    class ListExitStack(contextlib.AsyncExitStack):
        """contextlib's stack on a list instead of a deque (which alone is ~600 bytes):
        a live subscription keeps its operation's stack for as long as it runs."""

        def __init__(self):
            self._exit_callbacks = []

    class GeneratorHook:
        """A generator hook entered and exited once: what @contextmanager makes, minus
        what that keeps to be re-created (function, arguments, docstring) and the
        wrapper function Strawberry makes per hook and operation. Exits exactly as
        contextlib's does (same __exit__)."""

        __slots__ = ("gen",)

        def __init__(self, fn, extension):
            self.gen = fn(extension)

        def __enter__(self):
            try:
                return next(self.gen)
            except StopIteration:
                raise RuntimeError("generator didn't yield") from None

        __exit__ = contextlib._GeneratorContextManager.__exit__

    class Operation(OperationContextManager):
        """Strawberry's on_operation hooks around an operation, kept lighter for as long
        as it runs (a live subscription: its whole life): generator hooks as
        GeneratorHook, on a ListExitStack, and the hook list dropped once entered."""

        __slots__ = ()

        def get_hook(self, extension):
            fn = getattr(type(extension), self.HOOK_NAME)
            if fn is not self.default_hook and inspect.isgeneratorfunction(fn):
                return WrappedHook(extension, functools.partial(GeneratorHook, fn, extension), False)
            return super().get_hook(extension)

        async def __aenter__(self) -> None:
            self.async_exit_stack = stack = ListExitStack()
            await stack.__aenter__()
            for hook in self.hooks:
                if hook.is_async:
                    await stack.enter_async_context(hook.hook())
                else:
                    stack.enter_context(hook.hook())
            self.hooks = ()

    class LiveResultsRunner(SchemaExtensionsRunner):
        """Strawberry's extension runner, minus per-result work that does nothing:
        - results of extensions none of which defines `get_results` are `{}`;
        - `on_stream_result` for a result without errors whose data is shared or a
          replay batch: the only stream hook in use (MaskErrors) acts on errors only;
        - the operation's hooks are kept on a lighter stack (`Operation`), and
          extensions with no hook left to run are let go once execution starts."""

        def __init__(self, execution_context, extensions=None):
            super().__init__(execution_context, extensions)
            self._no_results = all(type(e).get_results is plain_results for e in self.extensions)

        async def get_extensions_results(self, ctx):
            if self._no_results and not ctx.extensions_results:
                return {}
            return await super().get_extensions_results(ctx)

        def on_stream_result(self, result):
            if not getattr(result, "errors", None) and type(getattr(result, "data", None)) in (SharedData, ResultBatch):
                return done
            return super().on_stream_result(result)

        def operation(self):
            return Operation(self.extensions)

        def executing(self):
            manager = super().executing()
            # After execution starts only stream and result hooks run: extensions with
            # neither (parser and validation caches, cost check) need not live on for
            # as long as a subscription does.
            self.extensions = [
                e for e in self.extensions
                if type(e).on_stream_result is not plain_stream or type(e).get_results is not plain_results
            ]
            return manager

    return LiveResultsRunner


def install_shared_execution(schema) -> None:
    """Make `schema` execute each distinct live subscription once per shared event,
    replay in batches (the transport must be SharedResultsTransportWS; it tells the
    resolvers so through the context) and skip extension work that does nothing."""
    schema.execution_context_class = _executor_class()
    runner = _runner_class()
    schema.create_extensions_runner = lambda execution_context, extensions: runner(execution_context, extensions)
    schema.baton_replay_batches = True
    # Live pages straight to graphql-transport-ws sockets (_LiveTap): only when no
    # extension adds results to each `next` message (those go through Strawberry).
    from strawberry.extensions.base_extension import SchemaExtension

    schema.baton_direct_writes = all(
        type(ext).get_results is SchemaExtension.get_results for ext in schema.get_extensions()
    )


# --- Live pages straight to the socket -----------------------------------------------
#
# Per delivered event, waking a subscription's task and passing the shared bytes up
# its generator chain (live generator -> graphql-core -> Strawberry's stream -> the
# transport) cost several times what writing them does. So for graphql-transport-ws
# subscriptions the channel's pump writes live pages itself while the subscription
# waits caught up (Feed.park): SharedResultsTransportWS makes a _LiveTap per
# `subscribe`, the operation's task finds it through the _TAP context variable
# (SharedEventExecutor.cancellable_iterable gives it the executor, Hub.subscribe the
# Feed), and every message of the socket goes through one _SocketWriter, so the
# order on the socket is the order of writing whichever path writes.
#
# A socket that does not take a message at once (its transport is paused: the client
# reads slowly or not at all) is never waited on by the pump: the rest of that send
# continues in the writer's own task and later messages queue behind it, at most
# `subscriber_buffer` deliveries; one more closes the socket with 4429, as a full
# Feed does.

_TAP: contextvars.ContextVar = contextvars.ContextVar("baton_live_tap", default=None)

# Where RawWebSocketSend keeps the server's `send` of a websocket in its scope.
RAW_SEND = "baton.ws_send"


class RawWebSocketSend:
    """ASGI middleware (outermost): remembers the server's own `send` of each websocket
    in its scope, so live messages are written without passing through every
    middleware's send wrapper. None of them changes a `websocket.send` message."""

    def __init__(self, app):
        self.app = app

    def __call__(self, scope, receive, send):
        # Not a coroutine function: no frame of its own kept for each socket's life.
        if scope["type"] == "websocket":
            scope[RAW_SEND] = send
        return self.app(scope, receive, send)


def _data_variables(op, fragments) -> frozenset:
    """The variables a subscription's per-event execution can depend on: all but those
    used only in the root field's arguments (`after`, filters), which choose events."""
    from graphql import FieldNode, Visitor, visit

    names: set[str] = set()

    class Collect(Visitor):
        def enter_variable(self, node, *_):
            names.add(node.name.value)

    roots = op.selection_set.selections
    if len(roots) == 1 and isinstance(roots[0], FieldNode):
        for directive in roots[0].directives or ():
            visit(directive, Collect())
        if roots[0].selection_set is not None:
            visit(roots[0].selection_set, Collect())
    else:
        visit(op.selection_set, Collect())
    for fragment in fragments.values():
        visit(fragment, Collect())
    return frozenset(names)


class _Resume:
    """The rest of a coroutine started by hand (coro.send(None)) that suspended on
    `waiting`: awaiting this runs it to its end in the awaiting task."""

    __slots__ = ("coro", "waiting")

    def __init__(self, coro, waiting):
        self.coro, self.waiting = coro, waiting

    def __await__(self):
        coro, waiting = self.coro, self.waiting
        while True:
            try:
                sent = yield waiting
            except BaseException as exc:  # noqa: BLE001 - the awaiting task's cancellation: pass it on
                try:
                    waiting = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    waiting = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


_END = object()  # in a writer's queue: the end of one delivery's messages


class _SocketWriter:
    """Every message one websocket is sent, in order.

    A message is written at once when the socket takes it without waiting (the ASGI
    send runs eagerly and finishes without suspending). When it suspends (the
    transport is paused), the rest of that send goes on in the writer's task and
    later messages queue behind it: `post` (the pump, for a delivery) never waits and
    gives up on the socket after `limit` queued deliveries; `send` (a subscription's
    own task, other messages) waits until its message is written."""

    __slots__ = ("_send", "_pending", "_task", "backlog", "limit", "closed", "_on_overflow")

    def __init__(self, send, limit: int, on_overflow: Callable[[], None]):
        self._send = send
        self._pending: collections.deque | None = None  # made when first needed (idle sockets: most)
        self._task: asyncio.Task | None = None
        self.backlog = 0  # deliveries queued
        self.limit = max(1, limit)
        self.closed = False
        self._on_overflow = on_overflow

    def _try(self, text: str) -> bool:
        """Write `text` now, or start the writer's task with the suspended send. False: socket gone."""
        coro = self._send({"type": "websocket.send", "text": text})
        try:
            waiting = coro.send(None)
        except StopIteration:
            return True
        except Exception:  # noqa: BLE001 - disconnected or closed: nothing more goes out
            self._gone()
            return False
        if self._pending is None:
            self._pending = collections.deque()
        self._task = asyncio.get_running_loop().create_task(self._drain(_Resume(coro, waiting)))
        return True

    def post(self, texts: list[str]) -> None:
        """One delivery's messages: written now if the socket takes them, else queued."""
        if self.closed:
            return
        if self._task is None:
            for i, text in enumerate(texts):
                if not self._try(text):
                    return
                if self._task is not None:
                    texts = texts[i + 1:]
                    break
            else:
                return
        self._pending.extend(texts)
        self._pending.append(_END)
        self.backlog += 1
        if self.backlog > self.limit:
            self._give_up()
            self._on_overflow()

    def send(self, text: str):
        """Write one message in turn; returns once it is written (WebSocketDisconnected when it cannot be)."""
        return self.send_many((text,))

    async def send_many(self, texts) -> None:
        """`send` for several messages (a replayed page): no coroutine per message."""
        if not self.closed and self._task is None:
            for i, text in enumerate(texts):
                if not self._try(text):
                    break
                if self._task is not None:
                    texts = texts[i + 1:]
                    break
            else:
                return
        await self._wait_written(texts)

    async def _wait_written(self, texts) -> None:
        from strawberry.http.exceptions import WebSocketDisconnected

        if self.closed:
            raise WebSocketDisconnected
        self._pending.extend(texts)
        written = asyncio.get_running_loop().create_future()
        self._pending.append(written)
        if not await written:
            raise WebSocketDisconnected

    async def _drain(self, first: _Resume) -> None:
        try:
            await first
            pending, send = self._pending, self._send
            while pending:  # (None once given up)
                item = pending.popleft()
                if type(item) is str:
                    await send({"type": "websocket.send", "text": item})
                elif item is _END:
                    self.backlog -= 1
                elif not item.done():
                    item.set_result(True)
        except Exception:  # noqa: BLE001 - disconnected or closed
            self._gone()
        finally:
            self._task = None
            if not self._pending:
                self._pending = None

    def _give_up(self) -> None:
        self.closed = True
        pending, self._pending = self._pending, None
        for item in pending or ():
            if isinstance(item, asyncio.Future) and not item.done():
                item.set_result(False)
        if pending:
            pending.clear()
        self.backlog = 0

    def _gone(self) -> None:
        self._give_up()

    def close(self) -> None:
        self._give_up()
        if self._task is not None:
            self._task.cancel()


class _Group:
    """Subscriptions that get the same `next` data for the same events: same shared
    execution key (document, data variables, visibility) and the same event filter."""

    __slots__ = ("key", "__weakref__")

    def __init__(self, key):
        self.key = key


_GROUPS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_MISSING = object()


def _group(key) -> _Group:
    group = _GROUPS.get(key)
    if group is None:
        group = _GROUPS[key] = _Group(key)
    return group


class _LiveTap:
    """One graphql-transport-ws subscription's way from the channel's pump to its socket.

    `deliver(page, feed)` computes, once per page and `_Group`, the data text of every
    event of the page the group wants (the shared result SharedEventExecutor makes for
    everyone), then writes this operation's `next` message for each event after
    feed.last: byte for byte what SharedResultsTransportWS would send for it."""

    __slots__ = ("handler", "op_id", "head", "tail", "executor", "feed", "group", "live")

    def __init__(self, handler, op_id: str, head: str, tail: str):
        self.handler = handler
        self.op_id = op_id
        self.head, self.tail = head, tail  # the operation's `next` message around its data text
        self.executor = None  # SharedEventExecutor.cancellable_iterable
        self.feed = None  # Hub.subscribe
        self.group = None
        self.live = True  # False once the operation is over (complete, error, socket gone)

    def deliver(self, page: Page, feed: Feed):
        """True: the page is done for this subscriber; False: it must take the page
        itself; an awaitable: results are being computed, ask again when it is done."""
        if not self.live:
            return True  # the operation is over: nothing more goes out for it
        writer = self.handler._writer
        if writer is None:
            return False
        group = self.group
        if group is None:
            group = self.group = _group((self.executor._share_key(), feed.filter))
        shared = page.shared
        out = shared.get(group, _MISSING)
        if out is _MISSING:
            out = shared[group] = self._render(page, feed.filter)
        if type(out) is not list:
            if out is None:
                return False
            if not out.done():
                return out
            out = out.result() if not out.cancelled() and out.exception() is None else None
            if out is None:
                return False
        last = feed.last
        if out:
            head, tail = self.head, self.tail
            texts = [head + text + tail for seq, text in out if seq > last]
            if texts:
                writer.post(texts)
        if page.upto > last:
            feed.last = page.upto
        return True

    def _render(self, page: Page, flt):
        """[(seq, data text)] for the page's events that `flt` matches; None when one of
        them has errors or extensions (the subscriber sends those itself); or a task."""
        from resolvers.live import shared_rows

        matches = flt.matches
        rows = [row for row in page.rows if matches(row)]
        if not rows:
            return []
        executor = self.executor
        shared_rows(executor.context_value, page)
        results = [executor.build_per_event_executor(row).execute_operation(False) for row in rows]
        encode = self.handler.view.encode_json
        is_awaitable = executor.is_awaitable
        if not any(is_awaitable(result) for result in results):
            return _texts(rows, results, encode)

        async def finish():
            done = [await result if is_awaitable(result) else result for result in results]
            return _texts(rows, done, encode)

        return asyncio.ensure_future(finish())


def _texts(rows, results, encode):
    out = []
    for row, result in zip(rows, results):
        data = result.data
        if type(data) is not SharedData or result.errors or result.extensions:
            return None
        text = data.text
        if text is None:
            text = data.text = encode(data)
        if not isinstance(text, str):
            return None
        out.append((row.seq, text))
    return out


def _transport_ws_handler_class():
    from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler

    class SharedResultsTransportWS(BaseGraphQLTransportWSHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            # Set here, not later: attributes added after __init__ cost each handler a dict.
            self._envelopes: dict | None = None
            self._writer: _SocketWriter | None = None  # every message of this socket goes through it
            self._taps: dict | None = None  # operation id -> _LiveTap

        def _out(self) -> _SocketWriter:
            writer = self._writer
            if writer is None:
                ws = self.websocket.ws
                hub = getattr(getattr(self.view, "app_state", None), "hub", None)
                writer = self._writer = _SocketWriter(
                    ws.scope.get(RAW_SEND) or ws.send, getattr(hub, "subscriber_buffer", 500), self._overflowed
                )
            return writer

        def _overflowed(self) -> None:
            """The socket took none of `subscriber_buffer` deliveries: close it with 4429
            (through each subscription's Feed, as when its own buffer overflows)."""
            feeds = [tap.feed for tap in (self._taps or {}).values() if tap.feed is not None]
            for feed in feeds:
                feed.overflow()
            if not feeds:
                from resolvers.live import SLOW_CONSUMER_CODE

                closing = asyncio.get_running_loop().create_task(
                    self.websocket.close(SLOW_CONSUMER_CODE, "Subscriber too slow; resubscribe with `after`")
                )
                _closing.add(closing)
                closing.add_done_callback(_closing.discard)

        def _drop_tap(self, op_id) -> None:
            tap = self._taps.pop(op_id, None) if self._taps else None
            if tap is not None:
                tap.live = False
            if self._envelopes:
                self._envelopes.pop(op_id, None)

        def forget_id(self, id: str) -> None:
            self._drop_tap(id)
            super().forget_id(id)

        async def cleanup_operation(self, operation_id: str) -> None:
            self._drop_tap(operation_id)
            await super().cleanup_operation(operation_id)

        async def shutdown(self) -> None:
            await super().shutdown()
            if self._writer is not None:
                self._writer.close()

        async def handle_connection_init(self, message) -> None:
            await super().handle_connection_init(message)
            # Signed in (or refused): the cancelled timeout task (with its traceback)
            # and the init payload are not needed for the rest of the socket's life.
            self.connection_init_timeout_task = None
            with contextlib.suppress(AttributeError):
                self.context.connection_params = None

        def _envelope(self, op_id: str):
            """The view's encoding of this operation's `next` message around its data."""
            tap = self._taps.get(op_id) if self._taps else None
            if tap is not None:
                return tap.head, tap.tail
            if self._envelopes is None:
                self._envelopes = {}
            env = self._envelopes.get(op_id)
            if env is None:
                env = self._envelopes[op_id] = self._new_envelope(op_id)
            return env

        def _new_envelope(self, op_id: str):
            text = self.view.encode_json({"id": op_id, "type": "next", "payload": {"data": None}})
            head, null, tail = text.rpartition("null") if isinstance(text, str) else ("", "", "")
            return (head, tail) if null else False

        async def handle_subscribe(self, message) -> None:
            # Resolvers may hand replayed events over in batches (live.ReplayBatch):
            # this handler sends each event's result as its own `next` message.
            if getattr(self.schema, "baton_replay_batches", False) and not getattr(self.context, "batch_replay", False):
                with contextlib.suppress(AttributeError, TypeError):
                    self.context.batch_replay = True
            # Live pages may be written for this subscription by the channel's pump.
            op_id = message.get("id")
            tap = None
            if getattr(self.schema, "baton_direct_writes", False) and isinstance(op_id, str) and (
                op_id not in self.operations
            ):
                env = self._new_envelope(op_id)  # kept by the tap (see _envelope)
                tap = _LiveTap(self, op_id, *env) if env else None
            token = _TAP.set(tap)
            try:
                await super().handle_subscribe(message)
            finally:
                _TAP.reset(token)
            if tap is not None:
                if op_id in self.operations:
                    if self._taps is None:
                        self._taps = {}
                    self._taps[op_id] = tap
                else:
                    tap.live = False

        def _masked(self, errors):
            """What Strawberry's stream does to a result's errors: log, then mask."""
            from strawberry.extensions import MaskErrors

            self.schema._process_errors(errors)
            for extension in self.schema.get_extensions():
                if isinstance(extension, MaskErrors):
                    errors = extension._process_errors(errors)
            return errors

        async def _send_batch(self, op_id: str, batch: ResultBatch, extensions) -> None:
            """One `next` message per event, each what Operation.send_next would send."""
            env = self._envelope(op_id) if not extensions else False
            encode = self.view.encode_json
            send_many = self._out().send_many
            texts: list[str] = []
            for item in batch:
                if type(item) is dict:
                    data, errors = item, None
                else:
                    data, errors = item.data, item.errors
                if env and not errors:
                    text = encode(data)
                    if isinstance(text, str):
                        texts.append(env[0] + text + env[1])
                        continue
                if texts:
                    await send_many(texts)
                    texts = []
                payload = {"data": data}
                if errors:
                    payload["errors"] = [err.formatted for err in self._masked(errors)]
                if extensions:
                    payload["extensions"] = extensions
                await self.send_message({"id": op_id, "type": "next", "payload": payload})
            if texts:
                await send_many(texts)

        async def send_message(self, message) -> None:
            if message.get("type") == "next":
                payload = message["payload"]
                data = payload.get("data")
                if type(data) is ResultBatch and "errors" not in payload:
                    await self._send_batch(message["id"], data, payload.get("extensions"))
                    return
                if type(data) is SharedData and len(payload) == 1:
                    text = data.text
                    if text is None:
                        text = data.text = self.view.encode_json(data)
                    env = self._envelope(message["id"]) if isinstance(text, str) else False
                    if env:
                        await self._out().send(env[0] + text + env[1])
                        return
            text = self.view.encode_json(message)
            if isinstance(text, str):
                await self._out().send(text)
            else:
                await super().send_message(message)

    return SharedResultsTransportWS


_closing: set[asyncio.Task] = set()
SharedResultsTransportWS = _transport_ws_handler_class()
