"""Live fan-out. Committed events are announced on a per-organization broadcast
channel as small messages ({"seq": [...], "users": [...]}).

broadcaster gives every subscriber its own unbounded queue, so one slow websocket
could grow memory without bound. Instead the Hub holds ONE broadcaster subscription
per organization channel per process and fans each message out to small bounded
feeds, one per GraphQL subscription. A full feed is not waited on: it is marked
overflowed and its owner is told (through its `on_overflow` callback), so a slow
consumer never slows the others.

Messages are only hints: on each, the channel reads the announced range of the log
ONCE and hands the same rows (a `Page`, resolvers/feeds.py) to every feed;
subscribers skip what they already passed and read any gap themselves. So a lost
message (failed publish, dropped LISTEN connection) costs nothing but latency: the
Hub periodically compares each channel with the log's head and reads up to it, and
does so for every channel after reconnecting."""
import asyncio
import contextvars
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from broadcaster import Broadcast

from api.live.backends import ReconnectingPostgresBackend, SubscribedRedisBackend
from resolvers.feeds import Batch, Matcher, OnOverflow, Page, SlowConsumer

log = logging.getLogger("baton.realtime")  # the name live-event logs have always had

LogHead = Callable[[int], Awaitable[int]]
LogHeads = Callable[[list[int]], Awaitable[dict[int, int]]]  # organization id -> its newest seq
# read_log(org_id, after, upto) -> the log's events with after < seq <= upto, oldest first
ReadLog = Callable[[int, int, int], Awaitable[list]]


def channel(org_id: int) -> str:
    return f"baton_org_{org_id}"


class Tap(Protocol):
    """A subscription's way from the channel's pump to its socket (api/live/tap.py)."""

    executor: object | None  # set once the subscription's source stream is ready
    feed: "BoundedFeed | None"

    def deliver(self, page: Page, feed: "BoundedFeed") -> bool | Awaitable: ...


# The tap of the graphql-transport-ws subscription being set up in this task: the
# transport sets it around `subscribe`, the execution context gives it its executor
# and Hub.subscribe its feed.
CURRENT_TAP: contextvars.ContextVar[Tap | None] = contextvars.ContextVar("baton_live_tap", default=None)


class BoundedFeed:
    """One subscriber's bounded buffer of pages (resolvers.feeds.Feed).

    A feed with a `tap` (a graphql-transport-ws subscription: api/live/tap.py) can
    also be served without waking its subscriber: while the subscriber waits with
    nothing pending (`park`), the channel's pump hands a page that starts where the
    subscriber is (page.after <= last) to the tap, which writes the events that match
    `filter` straight to the socket and moves `last` on. Any other page (a gap, a range
    the channel did not read, a result the tap cannot send) is queued as before and
    wakes the subscriber, which first takes `last` back (resolvers/live.py)."""

    __slots__ = ("_pages", "_maxsize", "_waiter", "_on_overflow", "overflowed", "tap", "parked", "last", "filter")

    def __init__(self, maxsize: int, on_overflow: OnOverflow | None, tap: Tap | None = None):
        self._pages: list[Page] = []
        self._maxsize = max(1, maxsize)
        self._waiter: asyncio.Future | None = None
        self._on_overflow = on_overflow
        self.overflowed = False
        self.tap = tap
        self.parked = False
        self.last = 0  # while parked: every seq <= last has been passed (sent or filtered out)
        self.filter: Matcher | None = None  # while parked: which events the subscriber wants

    def park(self, last: int, flt: Matcher) -> None:
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
        """Give up on this subscriber: `on_overflow` drops it (closes its socket)."""
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
        self.feeds: set[BoundedFeed] = set()
        self.read_upto = 0  # the log up to here has been handed out (or was there before)
        self.target = 0  # highest seq announced (or known to exist)
        self._seqs: set[int] = set()
        self._users: set[int] = set()
        self._catch_up = False
        self._need_head = False
        self._wake = asyncio.Event()
        self.ready = asyncio.Event()
        self.pages = 0  # pages handed out
        self.direct_deliveries = 0  # of those, deliveries written straight to a socket by the pump (BoundedFeed.tap)
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
            if asyncio.current_task().cancelling():
                # Cancelled while broadcaster was still subscribing (waiting for Redis to
                # confirm): its cleanup raises for the channel it had not recorded yet.
                # Stop as asked; a pump started here would wait forever.
                raise asyncio.CancelledError from None
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

    def _direct(self, feed: BoundedFeed, page: Page):
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

    def check_head(self, head: int) -> None:
        """A publish may have failed: if the log is ahead of what we saw, say so."""
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
        log_heads: LogHeads | None = None,
    ):
        self.subscriber_buffer = subscriber_buffer
        self.catch_up_seconds = catch_up_seconds
        self.log_head = log_head
        self.log_heads = log_heads
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

    def subscribe(self, org_id: int, on_overflow: OnOverflow | None = None) -> "_Subscription":
        """`async with hub.subscribe(org_id, on_overflow) as feed`: a bounded feed of the
        organization's log, in pages (see `Page`). Once entered, the channel is
        listened to: anything committed afterwards reaches the feed (a page may start
        after where the subscriber is; it fills that gap from the log itself)."""
        return _Subscription(self, org_id, on_overflow)

    def catch_up_all(self) -> None:
        for chan in list(self.channels.values()):
            chan.fan_out({"catch_up": True})

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.catch_up_seconds)
            if self.backend is not None:
                await self.backend.ensure_connected()
            try:
                await self.check_heads()
            except Exception:  # noqa: BLE001 - try again next tick
                log.exception("catch-up check failed")

    async def check_heads(self) -> None:
        """One statement for every organization this process listens to (not one
        transaction each: thousands per tick with many organizations)."""
        chans = list(self.channels.values())
        if not chans:
            return
        if self.log_heads is not None:
            heads = await self.log_heads([c.org_id for c in chans])
        else:
            heads = {c.org_id: await self.log_head(c.org_id) for c in chans}
        for chan in chans:
            chan.check_head(heads.get(chan.org_id, 0))


class _Subscription:
    """Hub.subscribe's context manager. A class, not @asynccontextmanager: a live
    subscription keeps it for as long as it runs, and a generator-based one costs a
    suspended generator (its frame and the loop's weak reference to it) and a
    context-manager object with a dict of its own (~900 bytes in all)."""

    __slots__ = ("hub", "org_id", "on_overflow", "feed", "chan")

    def __init__(self, hub: Hub, org_id: int, on_overflow: OnOverflow | None):
        self.hub, self.org_id, self.on_overflow = hub, org_id, on_overflow
        self.feed: BoundedFeed | None = None
        self.chan: _Channel | None = None

    async def __aenter__(self) -> BoundedFeed:
        hub, org_id = self.hub, self.org_id
        # A graphql-transport-ws subscription being set up in this task may take pages
        # straight to its socket (see BoundedFeed and api/live/tap.py).
        tap = CURRENT_TAP.get(None)
        if tap is not None and (tap.executor is None or tap.feed is not None):
            tap = None
        # Taken: this task's context (and what it creates or registers from here on:
        # the channel's tasks, a pooled database connection's reader) must not keep the
        # tap, and so the socket's handler, alive after the socket has gone.
        CURRENT_TAP.set(None)
        feed = self.feed = BoundedFeed(hub.subscriber_buffer, self.on_overflow, tap)
        if tap is not None:
            tap.feed = feed
        chan = hub.channels.get(org_id)
        if chan is None or chan.task.done():
            chan = hub.channels[org_id] = _Channel(hub, org_id)
        self.chan = chan
        chan.feeds.add(feed)
        try:
            await chan.ready.wait()
        except BaseException:
            self._leave()
            raise
        return feed

    async def __aexit__(self, *exc) -> None:
        self._leave()

    def _leave(self) -> None:
        feed, chan, hub = self.feed, self.chan, self.hub
        feed.tap, feed.parked = None, False
        chan.feeds.discard(feed)
        if not chan.feeds:
            # The last local subscriber left: stop listening to the channel.
            if hub.channels.get(self.org_id) is chan:
                del hub.channels[self.org_id]
            chan.cancel()
