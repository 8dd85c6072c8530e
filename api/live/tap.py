"""Live pages straight to the socket.

Per delivered event, waking a subscription's task and passing the shared bytes up
its generator chain (live generator -> graphql-core -> Strawberry's stream -> the
transport) cost several times what writing them does. So for graphql-transport-ws
subscriptions the channel's pump writes live pages itself while the subscription
waits caught up (BoundedFeed.park): the transport makes a LiveTap per `subscribe`,
the operation's task finds it through hub.CURRENT_TAP (the executor's
cancellable_iterable gives it the executor, Hub.subscribe the feed), and every
message of the socket goes through one SocketWriter, so the order on the socket is
the order of writing whichever path writes."""
import asyncio
import weakref

from api.live.execution import SharedData
from api.live.hub import BoundedFeed
from resolvers.feeds import Page
from resolvers.live import ACCESS_CHANGED, shared_rows


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


class LiveTap:
    """One graphql-transport-ws subscription's way from the channel's pump to its socket.

    `deliver(page, feed)` computes, once per page and `_Group`, the data text of every
    event of the page the group wants (the shared result SharedEventExecutor makes for
    everyone), then writes this operation's `next` message for each event after
    feed.last: byte for byte what the transport (SharedResultsTransportWS) would send for it."""

    __slots__ = ("handler", "op_id", "head", "tail", "executor", "feed", "group", "live")

    def __init__(self, handler, op_id: str, head: str, tail: str):
        self.handler = handler
        self.op_id = op_id
        self.head, self.tail = head, tail  # the operation's `next` message around its data text
        self.executor = None  # SharedEventExecutor.cancellable_iterable
        self.feed = None  # Hub.subscribe
        self.group = None
        self.live = True  # False once the operation is over (complete, error, socket gone)

    def deliver(self, page: Page, feed: BoundedFeed):
        """True: the page is done for this subscriber; False: it must take the page
        itself; an awaitable: results are being computed, ask again when it is done."""
        if not self.live:
            return True  # the operation is over: nothing more goes out for it
        writer = self.handler.writer
        if writer is None:
            return False
        if feed.filter.restricted or any(row.type == ACCESS_CHANGED for row in page.rows):
            # A viewer who sees less judges the page's cards itself, and a changed access
            # rule is applied by the subscriber before anything after it goes out.
            return False
        key = (self.executor.share_key(), feed.filter)
        group = self.group
        if group is None or group.key != key:
            group = self.group = _group(key)
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
