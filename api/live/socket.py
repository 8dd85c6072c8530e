"""The ordered, bounded writer of one websocket.

Every message of a live socket goes through one SocketWriter, so the order on the
socket is the order of writing, whichever path writes (a subscription's own task,
or the channel's pump through a tap). A socket that does not take a message at once
(its transport is paused: the client reads slowly or not at all) is never waited on
for data: the rest of that send continues in the writer's own task and later
messages queue behind it, counted in bytes. Past the connection's byte budget the
socket is given up (SLOW_READER), whatever wrote the bytes, so what one socket holds
is bounded by its budget, not by its number of subscriptions or their selections."""
import asyncio
import collections
import contextlib
import contextvars
from collections.abc import Awaitable, Callable

from strawberry.http.exceptions import WebSocketDisconnected

from api.live.codes import Close

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


def size(text: str) -> int:
    """`text`'s length in UTF-8 (its length for ASCII, which JSON mostly is: O(1))."""
    return len(text) if text.isascii() else len(text.encode())


class SocketWriter:
    """Every message one websocket is sent, in order, and the bytes waiting for it.

    A message is written at once when the socket takes it without waiting (the ASGI
    send runs eagerly and finishes without suspending). When it suspends (the
    transport is paused), the rest of that send goes on in the writer's task and later
    messages queue behind it; `queued` counts the bytes of that message and of those
    behind it. `post` (data: live pages, replays) never waits: a message that would
    take `queued` past `budget` gives up on the socket (`on_overflow`). `send`
    (everything else) waits for room under the budget, then until it is written.
    `turn` paces a subscriber's own reads of the log (see there)."""

    __slots__ = ("_send", "_pending", "_task", "_idle", "_turn", "queued", "budget", "closed", "_on_overflow")

    def __init__(self, send, budget: int, on_overflow: Callable[[], None]):
        self._send = send
        self._pending: collections.deque | None = None  # made when first needed (idle sockets: most)
        self._task: asyncio.Task | None = None
        self._idle: list[asyncio.Future] | None = None  # waiting for the queue to empty
        self._turn: asyncio.Lock | None = None
        self.queued = 0  # bytes handed to this writer and not yet to the server (the send in flight included)
        self.budget = max(1, budget)
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
            self._give_up()
            return False
        if self._pending is None:
            self._pending = collections.deque()
        n = size(text)
        self.queued += n
        self._task = asyncio.get_running_loop().create_task(self._drain(_Resume(coro, waiting), n))
        return True

    def _write_now(self, texts):
        """Write `texts` while the socket takes each at once. Once a send suspends: the
        texts after it (maybe none), to queue behind it. None when all went out or the
        socket is gone (then `closed`)."""
        for i, text in enumerate(texts):
            if not self._try(text):
                return None
            if self._task is not None:
                return texts[i + 1:]
        return None

    def post(self, texts: list[str]) -> None:
        """Data messages: written now if the socket takes them, else queued; past the
        budget the socket is given up instead (never waits)."""
        if self.closed:
            return
        if self._task is None:
            texts = self._write_now(texts)
            if not texts:
                return
        n = sum(map(size, texts))
        if self.queued + n > self.budget:
            on_overflow = self._on_overflow
            self.close()
            on_overflow()
            return
        self._pending.extend(texts)
        self.queued += n

    def send(self, text: str):
        """Write one message in turn; returns once it is written (WebSocketDisconnected when it cannot be)."""
        return self.send_many((text,))

    async def send_many(self, texts) -> None:
        """`send` for several messages: no coroutine per message. Waits for room first,
        so it never takes `queued` past the budget (but for one message when it is empty)."""
        while not self.closed:
            if self._task is None:
                texts = self._write_now(texts)
                if texts is None:
                    if self.closed:
                        break
                    return  # all written
            n = sum(map(size, texts))
            if self.queued + n <= self.budget:
                self._pending.extend(texts)
                self.queued += n
                written = asyncio.get_running_loop().create_future()
                self._pending.append(written)
                if await written:
                    return
                break
            await self.idle()
        raise WebSocketDisconnected

    async def idle(self) -> None:
        """Return once everything handed to the writer is written (or it is closed)."""
        while self._task is not None and not self.closed:
            if self._idle is None:
                self._idle = []
            done = asyncio.get_running_loop().create_future()
            self._idle.append(done)
            await done

    @contextlib.asynccontextmanager
    async def turn(self):
        """Around one page of a subscriber's own reads of the log (replay, gaps), from
        reading it to handing its last message over: one page per socket at a time,
        each read only once the socket has taken everything before it. So a socket that
        does not read holds one page, however many subscriptions replay on it."""
        if self._turn is None:
            self._turn = asyncio.Lock()
        async with self._turn:
            await self.idle()
            yield

    async def _drain(self, first: _Resume, n: int) -> None:
        try:
            await first
            self.queued -= n
            pending, send = self._pending, self._send
            while pending:  # (emptied once given up)
                item = pending.popleft()
                if type(item) is str:
                    await send({"type": "websocket.send", "text": item})
                    self.queued -= size(item)
                elif not item.done():
                    item.set_result(True)
        except Exception:  # noqa: BLE001 - disconnected or closed
            self._give_up()
        finally:
            self._task = None
            if not self._pending:
                self._pending = None
            self._wake()

    def _wake(self) -> None:
        idle, self._idle = self._idle, None
        for done in idle or ():
            if not done.done():
                done.set_result(None)

    def _give_up(self) -> None:
        self.closed = True
        pending, self._pending = self._pending, None
        for item in pending or ():
            if isinstance(item, asyncio.Future) and not item.done():
                item.set_result(False)
        if pending:
            pending.clear()
        self.queued = 0
        self._wake()

    def close(self) -> None:
        """Write nothing more: drop the queue, fail waiting senders, stop the send in flight."""
        self._give_up()
        self._on_overflow = _nothing  # (a bound method of the handler: no cycle kept)
        task = self._task
        if task is not None and task is not asyncio.current_task():
            task.cancel()


def _nothing() -> None:
    pass


def transport_of(scope: dict):
    """The asyncio transport under a websocket, or None: uvicorn's websocket protocols
    (websockets, websockets-sansio, wsproto) keep it as `.transport` on the object
    whose bound `send` the server passed in (RAW_SEND)."""
    return getattr(getattr(scope.get(RAW_SEND), "__self__", None), "transport", None)


# Seconds a socket given up on has to take its close frame. A client that reads
# nothing never does: its asyncio transport would wait forever to flush its buffer
# before telling the application, so the connection is aborted instead.
ABORT_AFTER = 10.0

_closing: set[asyncio.Task] = set()  # closes under way (the loop keeps only weak references to tasks)


def close_soon(close: Callable[[int, str], Awaitable[None]], closing: Close, transport=None) -> None:
    """Close a socket from synchronous code (an overflow callback) without waiting:
    the task that would wait may be stuck sending to the very client that stopped
    reading. With its `transport`, the connection is aborted ABORT_AFTER seconds later
    (a no-op if it has closed by then)."""
    loop = asyncio.get_running_loop()
    task = loop.create_task(_close(close, closing))
    _closing.add(task)
    task.add_done_callback(_closing.discard)
    if transport is not None:
        loop.call_later(ABORT_AFTER, transport.abort, context=contextvars.Context())  # (keeps no caller's context)


async def _close(close, closing: Close) -> None:
    with contextlib.suppress(Exception):  # already closed, or the client is gone
        await close(closing.code, closing.reason)
