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
identical subscriptions per event (SharedEventExecutor, SharedResultsTransportWS)."""
import asyncio
import contextlib
import json
import logging
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
    """One subscriber's bounded buffer of pages."""

    def __init__(self, maxsize: int, on_overflow: Callable[[], None] | None):
        self._queue: asyncio.Queue[Page] = asyncio.Queue(maxsize=max(1, maxsize))
        self._on_overflow = on_overflow
        self.overflowed = False

    def offer(self, page: Page) -> None:
        if self.overflowed:
            return
        try:
            self._queue.put_nowait(page)
        except asyncio.QueueFull:
            self.overflowed = True
            log.warning("subscriber buffer full: disconnecting a slow consumer")
            # The reader is not waiting (its queue is full); it raises on its next look.
            if self._on_overflow is not None:
                self._on_overflow()

    async def next(self) -> Batch:
        """Wait for at least one page, then take all that are pending."""
        page = await self._queue.get()
        batch = Batch()
        while True:
            if self.overflowed:
                raise SlowConsumer("subscriber buffer overflowed")
            batch.pages.append(page)
            try:
                page = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return batch


# Longest range a channel reads into memory for its subscribers; beyond it (a long
# outage) each subscriber pages through the log itself, as on replay.
SHARED_READ_LIMIT = 5000


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
            for feed in list(self.feeds):
                feed.offer(page)

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
                viewer = getattr(self.context_value, "viewer", None)
                key = self._baton_key = (
                    source,
                    op.name.value if op.name else None,
                    repr(sorted((variables or {}).items())),
                    getattr(viewer, "org_id", None),
                    getattr(viewer, "department_id", None),
                )
            return key

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

    plain_results = SchemaExtension.get_results
    done = contextlib.nullcontext()

    class LiveResultsRunner(SchemaExtensionsRunner):
        """Strawberry's extension runner, minus per-result work that does nothing:
        - results of extensions none of which defines `get_results` are `{}`;
        - `on_stream_result` for a result without errors whose data is shared or a
          replay batch: the only stream hook in use (MaskErrors) acts on errors only."""

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

    return LiveResultsRunner


def install_shared_execution(schema) -> None:
    """Make `schema` execute each distinct live subscription once per shared event,
    replay in batches (the transport must be SharedResultsTransportWS; it tells the
    resolvers so through the context) and skip extension work that does nothing."""
    schema.execution_context_class = _executor_class()
    runner = _runner_class()
    schema.create_extensions_runner = lambda execution_context, extensions: runner(execution_context, extensions)
    schema.baton_replay_batches = True


def _transport_ws_handler_class():
    from starlette.websockets import WebSocketDisconnect
    from strawberry.http.exceptions import WebSocketDisconnected
    from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler

    class SharedResultsTransportWS(BaseGraphQLTransportWSHandler):
        _envelopes: dict | None = None

        def _envelope(self, op_id: str):
            """The view's encoding of this operation's `next` message around its data."""
            if self._envelopes is None:
                self._envelopes = {}
            env = self._envelopes.get(op_id)
            if env is None:
                text = self.view.encode_json({"id": op_id, "type": "next", "payload": {"data": None}})
                head, null, tail = text.rpartition("null") if isinstance(text, str) else ("", "", "")
                env = self._envelopes[op_id] = (head, tail) if null else False
            return env

        async def handle_subscribe(self, message) -> None:
            # Resolvers may hand replayed events over in batches (live.ReplayBatch):
            # this handler sends each event's result as its own `next` message.
            if getattr(self.schema, "baton_replay_batches", False) and not getattr(self.context, "batch_replay", False):
                with contextlib.suppress(AttributeError, TypeError):
                    self.context.batch_replay = True
            await super().handle_subscribe(message)

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
            send_text = self.websocket.ws.send_text
            for item in batch:
                if type(item) is dict:
                    data, errors = item, None
                else:
                    data, errors = item.data, item.errors
                if env and not errors:
                    text = encode(data)
                    if isinstance(text, str):
                        try:
                            await send_text(env[0] + text + env[1])
                        except WebSocketDisconnect as exc:
                            raise WebSocketDisconnected from exc
                        continue
                payload = {"data": data}
                if errors:
                    payload["errors"] = [err.formatted for err in self._masked(errors)]
                if extensions:
                    payload["extensions"] = extensions
                await super().send_message({"id": op_id, "type": "next", "payload": payload})

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
                        try:
                            await self.websocket.ws.send_text(env[0] + text + env[1])
                        except WebSocketDisconnect as exc:
                            raise WebSocketDisconnected from exc
                        return
            await super().send_message(message)

    return SharedResultsTransportWS


SharedResultsTransportWS = _transport_ws_handler_class()
